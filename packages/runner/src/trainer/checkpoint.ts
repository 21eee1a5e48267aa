import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { GenviewError, type ModuleVariable, decodeSafetensors, encodeSafetensors, isGenviewError, isTemporaryName, tf, writeFileAtomic } from '@genview/core';
import type { Optimizer } from '../optim';

export const LAST_CHECKPOINT = 'last.safetensors';

export interface CheckpointMeta {
  /** The next step to run. */
  step: number;
  totalSteps: number;
  seed: number;
  backend: string;
  configHash: string;
}

type StoredTensor = { dtype: 'float32' | 'int32'; shape: number[]; data: Float32Array | Int32Array };

/**
 * One safetensors file: every state variable as "model/<module>/<variable>", the optimizer's buffers as
 * "optim/<slot>/<variable>", and the run position in the metadata. Written to a temporary file and
 * renamed, so a crash mid-write leaves the previous checkpoint intact.
 */
export async function saveCheckpoint(dir: string, state: ModuleVariable[], optimizer: Optimizer, meta: CheckpointMeta): Promise<string> {
  const tensors: Record<string, StoredTensor> = {};
  const put = async (key: string, t: tf.Tensor) => {
    const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
    const values = await t.data();
    tensors[key] = { dtype, shape: [...t.shape], data: dtype === 'int32' ? Int32Array.from(values) : Float32Array.from(values) };
  };
  for (const v of state) await put(`model/${v.name}`, v.variable);
  const optimState = optimizer.getState();
  try {
    for (const [key, t] of Object.entries(optimState.tensors)) await put(`optim/${key}`, t);
  } finally {
    for (const t of Object.values(optimState.tensors)) t.dispose();
  }
  const metadata = { ...Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, String(v)])), optimizerStep: String(optimState.step) };
  const path = join(dir, LAST_CHECKPOINT);
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
  return path;
}

export function checkpointExists(dir: string): boolean {
  return existsSync(join(dir, LAST_CHECKPOINT));
}

function readCheckpoint(dir: string) {
  const path = join(dir, LAST_CHECKPOINT);
  if (!existsSync(path)) {
    throw new GenviewError('CHECKPOINT', `no checkpoint at ${path}.`, { fix: 'train without --resume first, or point outDir at the run to resume.' });
  }
  let file: ReturnType<typeof decodeSafetensors>;
  try {
    file = decodeSafetensors(new Uint8Array(readFileSync(path)), path);
  } catch (error) {
    throw damaged(dir, path, isGenviewError(error) ? error.problem : error instanceof Error ? error.message : String(error), error);
  }
  const step = Number(file.metadata?.step);
  if (!Number.isInteger(step) || step < 0) {
    throw damaged(dir, path, `its metadata has no run position (step = ${JSON.stringify(file.metadata?.step ?? null)}); it was not written by the GenView trainer.`);
  }
  return { path, ...file };
}

/**
 * A checkpoint that cannot be read: the message names the file, and the fix what a user can do about
 * it, with the other checkpoints of the folder (and their steps) when there are any.
 */
function damaged(dir: string, path: string, problem: string, cause?: unknown): GenviewError {
  const others = otherCheckpoints(dir, LAST_CHECKPOINT);
  const earlier =
    others.length > 0
      ? `, or resume from an earlier checkpoint by copying it over ${path} (this folder has ${others.map((o) => `${o.name} (${o.step === undefined ? 'unreadable' : `step ${o.step}`})`).join(', ')})`
      : ' (this folder holds no other checkpoint to resume from)';
  return new GenviewError('CHECKPOINT', `the checkpoint is damaged: ${problem}`, {
    where: path,
    fix: `delete ${path} and run genview train without --resume to train from the start${earlier}. \`genview verify ${dir}\` checks every checkpoint of the run.`,
    cause,
  });
}

/** The *.safetensors files of a folder other than `except`, with the step each one's header gives. */
export function otherCheckpoints(dir: string, except: string): { name: string; step?: number }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => name.endsWith('.safetensors') && name !== except && !isTemporaryName(name))
    .sort()
    .map((name) => ({ name, step: headerStep(join(dir, name)) }));
}

/** The step in a safetensors file's metadata, read from its header alone; undefined when it has none or is unreadable. */
export function headerStep(path: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(8);
    if (readSync(fd, head, 0, 8, 0) !== 8) return undefined;
    const length = Number(head.readBigUInt64LE(0));
    if (!(length > 0 && length < 100_000_000)) return undefined;
    const header = Buffer.alloc(length);
    if (readSync(fd, header, 0, length, 8) !== length) return undefined;
    const step = Number((JSON.parse(header.toString('utf8')) as { __metadata__?: { step?: unknown } }).__metadata__?.step);
    return Number.isInteger(step) && step >= 0 ? step : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function metaOf(metadata: Record<string, string>): CheckpointMeta {
  return {
    step: Number(metadata.step),
    totalSteps: Number(metadata.totalSteps),
    seed: Number(metadata.seed),
    backend: metadata.backend ?? '',
    configHash: metadata.configHash ?? '',
  };
}

function assignModel(path: string, tensors: Record<string, StoredTensor>, state: ModuleVariable[]): void {
  for (const v of state) {
    const stored = tensors[`model/${v.name}`];
    // State added after the checkpoint was written (ModuleVariable.optional) keeps the value it has.
    if (!stored && v.optional) continue;
    if (!stored) {
      throw new GenviewError('CHECKPOINT', `checkpoint ${path} has no variable ${v.name}.`, {
        fix: 'resume with the same framework, backbone and heads the checkpoint was made with.',
      });
    }
    if (stored.shape.join('x') !== v.variable.shape.join('x')) {
      throw new GenviewError('CHECKPOINT', `variable ${v.name} has shape [${stored.shape}] in ${path} but [${v.variable.shape}] in this model.`, {
        fix: 'resume with the same model config the checkpoint was made with.',
      });
    }
    tf.tidy(() => v.variable.assign(tf.tensor(stored.data, stored.shape, v.variable.dtype)));
  }
}

/** Restores only the model variables (for evaluation); returns the run position. */
export function loadModelState(dir: string, state: ModuleVariable[]): CheckpointMeta {
  const { path, tensors, metadata } = readCheckpoint(dir);
  assignModel(path, tensors as Record<string, StoredTensor>, state);
  return metaOf(metadata ?? {});
}

/** Restores variables and optimizer state in place; returns the run position. */
export function loadCheckpoint(dir: string, state: ModuleVariable[], optimizer: Optimizer): CheckpointMeta {
  const { path, tensors, metadata } = readCheckpoint(dir);
  assignModel(path, tensors as Record<string, StoredTensor>, state);
  const optimTensors: Record<string, tf.Tensor> = {};
  for (const [key, stored] of Object.entries(tensors as Record<string, StoredTensor>)) {
    if (key.startsWith('optim/')) optimTensors[key.slice('optim/'.length)] = tf.tensor(stored.data, stored.shape, stored.dtype);
  }
  try {
    optimizer.setState({ step: Number(metadata?.optimizerStep ?? 0), tensors: optimTensors });
  } finally {
    for (const t of Object.values(optimTensors)) t.dispose();
  }
  return metaOf(metadata ?? {});
}
