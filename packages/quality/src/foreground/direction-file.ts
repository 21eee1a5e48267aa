import {
  GenviewError,
  type SafetensorsTensor,
  decodeSafetensors,
  encodeSafetensors,
  readFileIfExists,
  writeFileAtomic,
} from '@genview/core';
import { type ForegroundDirection, type Orientation, validateForegroundDirection } from './direction';

/**
 * A fitted foreground direction as a small safetensors file: tensors `direction` [D], `threshold` []
 * and `mean` [D] (optional); metadata says what the file is and how it was fitted. Safetensors because
 * other tools read it without running code, and core already writes it.
 */
const FORMAT = 'genview.foreground-direction';
const VERSION = '1';
const ORIENTATIONS: readonly Orientation[] = ['centre-prior', 'as-computed', 'flip'];

export function encodeForegroundDirection(direction: ForegroundDirection): Uint8Array {
  validateForegroundDirection(direction, 'encodeForegroundDirection');
  const tensors: Record<string, SafetensorsTensor> = {
    direction: { dtype: 'float32', shape: [direction.vector.length], data: Float32Array.from(direction.vector) },
    threshold: { dtype: 'float32', shape: [], data: Float32Array.of(direction.threshold) },
  };
  if (direction.mean) tensors.mean = { dtype: 'float32', shape: [direction.mean.length], data: Float32Array.from(direction.mean) };
  const metadata: Record<string, string> = { format: FORMAT, version: VERSION };
  // The threshold tensor is float32; the metadata keeps the exact float64 value for a bit-exact round trip.
  metadata.threshold = String(direction.threshold);
  if (direction.foregroundFraction !== undefined) metadata.foregroundFraction = String(direction.foregroundFraction);
  if (direction.orientation !== undefined) metadata.orientation = direction.orientation;
  if (direction.explainedVariance !== undefined) metadata.explainedVariance = String(direction.explainedVariance);
  return encodeSafetensors(tensors, metadata);
}

export function decodeForegroundDirection(bytes: Uint8Array, source = 'foreground direction'): ForegroundDirection {
  const file = decodeSafetensors(bytes, source);
  const fix = 'write the file with saveForegroundDirection (genview fit-foreground).';
  if (file.metadata.format !== undefined && file.metadata.format !== FORMAT) {
    throw new GenviewError('UNREADABLE_FILE', `the file's format is "${file.metadata.format}", not a foreground direction.`, { where: source, fix });
  }
  const vector = file.tensors.direction;
  if (vector?.dtype !== 'float32' || vector.shape.length !== 1) {
    throw new GenviewError('UNREADABLE_FILE', 'a foreground direction file needs a float32 tensor "direction" of shape [D].', { where: source, fix });
  }
  const thresholdTensor = file.tensors.threshold;
  const fromMetadata = file.metadata.threshold !== undefined ? Number(file.metadata.threshold) : undefined;
  let threshold: number;
  if (fromMetadata !== undefined && Number.isFinite(fromMetadata)) threshold = fromMetadata;
  else if (thresholdTensor && thresholdTensor.data.length === 1) threshold = thresholdTensor.data[0];
  else throw new GenviewError('UNREADABLE_FILE', 'a foreground direction file needs a scalar tensor "threshold".', { where: source, fix });
  const mean = file.tensors.mean;
  if (mean && (mean.dtype !== 'float32' || mean.shape.length !== 1)) {
    throw new GenviewError('UNREADABLE_FILE', 'the "mean" tensor must be float32 [D].', { where: source, fix });
  }
  const number = (key: string): number | undefined => {
    const value = file.metadata[key];
    return value === undefined || !Number.isFinite(Number(value)) ? undefined : Number(value);
  };
  const orientation = ORIENTATIONS.find((o) => o === file.metadata.orientation);
  const direction: ForegroundDirection = {
    vector: vector.data as Float32Array,
    threshold,
    ...(mean ? { mean: mean.data as Float32Array } : {}),
    ...(number('foregroundFraction') !== undefined ? { foregroundFraction: number('foregroundFraction') } : {}),
    ...(orientation ? { orientation } : {}),
    ...(number('explainedVariance') !== undefined ? { explainedVariance: number('explainedVariance') } : {}),
  };
  validateForegroundDirection(direction, source);
  return direction;
}

/** Writes the direction atomically: readers see the old file or the whole new one. */
export async function saveForegroundDirection(path: string, direction: ForegroundDirection): Promise<void> {
  await writeFileAtomic(path, encodeForegroundDirection(direction));
}

export async function loadForegroundDirection(path: string): Promise<ForegroundDirection> {
  const bytes = await readFileIfExists(path);
  if (bytes === null) {
    throw new GenviewError('NOT_FOUND', `no foreground direction file at ${path}.`, {
      where: path,
      fix: 'fit one first (fitForegroundDirectionOnDataset + saveForegroundDirection, or `genview fit-foreground`).',
    });
  }
  return decodeForegroundDirection(bytes, path);
}
