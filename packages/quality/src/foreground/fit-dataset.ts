import { type Dataset, type EventBus, type FeatureExtractor, GenviewError, type Tensor3D, type Tensor4D } from '@genview/core';
import { type FitForegroundOptions, type ForegroundDirection, fitForegroundDirection } from './direction';
import { type TokenEncoder, patchTokensOf, requireTokenEncoder } from './token-encoder';

export interface FitOnDatasetOptions extends FitForegroundOptions {
  /** Images per encoder call. */
  batchSize?: number;
  /**
   * How many images to fit on, spread evenly over the dataset (so every region of an ordered dataset,
   * e.g. every class, is represented). Upstream fits on 10 images per ImageNet class.
   */
  limit?: number;
  /** Exact dataset indices to fit on; overrides `limit`. */
  indices?: ArrayLike<number>;
  /** Receives progress events ('fit-foreground', counted in images over both passes). */
  events?: EventBus;
}

/** Throws unless the extractor can give patch tokens; returns the bound method. */
export function requirePatchTokens(extractor: FeatureExtractor, where: string): (images: Tensor4D) => Tensor3D {
  if (typeof extractor.patchTokens !== 'function') {
    throw new GenviewError('BAD_INPUT', 'the feature extractor has no patchTokens(): foreground masks need a spatial token map [N, T, D].', {
      where,
      fix: 'use an encoder with a spatial feature map (a CNN or ViT backbone wrapped with asFeatureExtractor, or an ONNX encoder exporting patch tokens).',
    });
  }
  return extractor.patchTokens.bind(extractor);
}

function evenlySpaced(size: number, limit: number): Int32Array {
  const n = Math.min(size, limit);
  return Int32Array.from({ length: n }, (_, i) => Math.floor((i * size) / n));
}

/**
 * Runs the foreground fit over a dataset with a frozen encoder, in batches (`genview fit-foreground`).
 * The encoder runs twice per image (direction pass, threshold pass) rather than keeping every token in
 * memory: the fit is a one-off step and tokens for a thousand images would take hundreds of megabytes.
 */
export async function fitForegroundDirectionOnDataset(
  dataset: Dataset,
  extractor: TokenEncoder,
  options: FitOnDatasetOptions = {},
): Promise<ForegroundDirection> {
  const where = 'fitForegroundDirectionOnDataset';
  const encoder = requireTokenEncoder(extractor, `${where}.extractor`);
  const batchSize = options.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new GenviewError('BAD_INPUT', `batchSize must be a positive integer, got ${batchSize}.`, { where: `${where}.batchSize` });
  }
  const indices = options.indices ? Int32Array.from(options.indices) : evenlySpaced(dataset.info.size, options.limit ?? 1000);
  if (indices.length === 0) {
    throw new GenviewError('EMPTY_DATASET', 'there are no images to fit the foreground direction on.', {
      where,
      fix: 'use a non-empty dataset, a positive limit, or non-empty indices.',
    });
  }
  let done = 0;
  const total = 2 * indices.length;
  async function* batches(): AsyncGenerator<Tensor3D> {
    for (let start = 0; start < indices.length; start += batchSize) {
      const chunk = indices.subarray(start, Math.min(start + batchSize, indices.length));
      const batch = await dataset.read(chunk);
      let tokens: Tensor3D;
      try {
        tokens = await patchTokensOf(encoder, batch.images);
      } finally {
        batch.images.dispose();
      }
      done += chunk.length;
      options.events?.emit('progress', { task: 'fit-foreground', done, total, unit: 'images' });
      yield tokens;
    }
  }
  return fitForegroundDirection(batches, options);
}
