import {
  type Dataset,
  type EvalData,
  type EventBus,
  type FeatureExtractor,
  GenviewError,
  type Rng,
  type Tensor2D,
  type Tensor4D,
  isVisionLanguageEncoder,
  tf,
} from '@genview/core';

/** Frozen features of a set of samples, row-major [count, dim], with their labels when known. */
export interface FeatureSet {
  features: Float32Array;
  dim: number;
  /** Class ids in row order; absent for unlabelled datasets. */
  labels?: Int32Array;
}

export interface ExtractOptions {
  /** Images per encoder call; bounds peak memory. */
  batchSize?: number;
  /** Which dataset indices to embed, in this order; all of them by default. */
  indices?: ArrayLike<number>;
  /** Progress events go here (libraries never print). */
  events?: EventBus;
  /** Progress task name. */
  task?: string;
}

/** Per-encoder caches of whole-dataset features, only for encoders wrapped by cachedFeatures(). */
const caches = new WeakMap<FeatureExtractor, WeakMap<Dataset, FeatureSet>>();

/**
 * The same encoder, promising its weights will not change while the wrapper is in use: several
 * evaluators then share one pass over each dataset instead of embedding it once each.
 */
export function cachedFeatures(encoder: FeatureExtractor): FeatureExtractor {
  const wrapper: FeatureExtractor = {
    featureDim: encoder.featureDim,
    embed: (images) => encoder.embed(images),
    ...(encoder.patchTokens ? { patchTokens: (images: Tensor4D) => encoder.patchTokens!(images) } : {}),
    // The joint space passes through uncached, so zero-shot and retrieval still see a vision-language encoder.
    ...(isVisionLanguageEncoder(encoder)
      ? {
          jointDim: encoder.jointDim,
          embedImages: (images: Tensor4D) => encoder.embedImages(images),
          embedTexts: (texts: readonly string[]) => encoder.embedTexts(texts),
        }
      : {}),
  };
  caches.set(wrapper, new WeakMap());
  return wrapper;
}

function pickRows(full: FeatureSet, indices: Int32Array): FeatureSet {
  const { dim } = full;
  const features = new Float32Array(indices.length * dim);
  for (let i = 0; i < indices.length; i++) features.set(full.features.subarray(indices[i] * dim, (indices[i] + 1) * dim), i * dim);
  return { features, dim, labels: full.labels ? Int32Array.from(indices, (row) => full.labels![row]) : undefined };
}

/**
 * Runs a frozen encoder over a dataset in batches and copies the embeddings to one Float32Array.
 * Each batch's images and embeddings are disposed before the next is read, so memory stays at one batch.
 * For an encoder from cachedFeatures(), the whole dataset is embedded once and later calls reuse it.
 */
export async function extractFeatures(encoder: FeatureExtractor, dataset: Dataset, options: ExtractOptions = {}): Promise<FeatureSet> {
  const cache = caches.get(encoder);
  if (cache) {
    let full = cache.get(dataset);
    if (!full) {
      full = await embedAll(encoder, dataset, { ...options, indices: undefined });
      cache.set(dataset, full);
    }
    return options.indices ? pickRows(full, Int32Array.from(options.indices)) : full;
  }
  return embedAll(encoder, dataset, options);
}

async function embedAll(encoder: FeatureExtractor, dataset: Dataset, options: ExtractOptions): Promise<FeatureSet> {
  const batchSize = options.batchSize ?? 256;
  if (!(batchSize >= 1)) throw new GenviewError('BAD_INPUT', `batchSize must be at least 1, got ${batchSize}.`, { where: 'extractFeatures' });
  const indices = options.indices ? Int32Array.from(options.indices) : Int32Array.from({ length: dataset.info.size }, (_, i) => i);
  const count = indices.length;
  if (count === 0) {
    throw new GenviewError('EMPTY_DATASET', `dataset "${dataset.info.name}" has no samples to embed.`, { where: 'extractFeatures' });
  }
  const dim = encoder.featureDim;
  const features = new Float32Array(count * dim);
  let labels: Int32Array | undefined = dataset.labels ? Int32Array.from(indices, (i) => dataset.labels![i]) : undefined;
  const batchLabels = new Int32Array(count);
  let everyBatchLabelled = true;
  const task = options.task ?? `embed ${dataset.info.name}`;
  for (let start = 0; start < count; start += batchSize) {
    const batch = await dataset.read(indices.subarray(start, Math.min(count, start + batchSize)));
    try {
      const embedded = tf.tidy(() => encoder.embed(batch.images));
      try {
        const [rows, cols] = embedded.shape;
        if (rows !== batch.images.shape[0] || cols !== dim) {
          throw new GenviewError(
            'BAD_SHAPE',
            `encoder.embed returned [${rows}, ${cols}] for ${batch.images.shape[0]} images; expected [${batch.images.shape[0]}, ${dim}] (featureDim).`,
            { where: 'extractFeatures' },
          );
        }
        features.set(await embedded.data(), start * dim);
      } finally {
        embedded.dispose();
      }
      if (batch.labels) batchLabels.set(batch.labels, start);
      else everyBatchLabelled = false;
    } finally {
      batch.images.dispose();
    }
    options.events?.emit('progress', { task, done: Math.min(count, start + batchSize), total: count, unit: 'images' });
  }
  if (!labels && everyBatchLabelled) labels = batchLabels;
  return { features, dim, labels };
}

/**
 * Flattened pixels as a FeatureExtractor: the raw-pixel baseline any learned encoder should beat.
 * The dataset only supplies the image shape.
 */
export function rawPixelFeatures(dataset: Pick<Dataset, 'info'>): FeatureExtractor {
  const [h, w, c] = dataset.info.imageShape;
  return {
    featureDim: h * w * c,
    embed: (images: Tensor4D): Tensor2D => tf.reshape(images, [images.shape[0], -1]) as Tensor2D,
  };
}

/** Labels an evaluator needs, or an error naming the split that lacks them. */
export function requireLabels(set: FeatureSet, split: string, where: string): Int32Array {
  if (!set.labels) {
    throw new GenviewError('BAD_INPUT', `the ${split} dataset has no labels; ${where} needs labelled train and test splits.`, {
      where,
      fix: 'use a labelled dataset for evaluation (labels are only needed by evaluators).',
    });
  }
  return set.labels;
}

/** Number of classes: the dataset's class names when given, else one more than the largest label seen. */
export function countClasses(data: EvalData, ...labelSets: Int32Array[]): number {
  const named = data.train.info.classNames?.length ?? data.test.info.classNames?.length;
  let max = -1;
  for (const labels of labelSets) for (const l of labels) if (l > max) max = l;
  return Math.max(named ?? 0, max + 1);
}

/**
 * `limit` indices of 0..size-1 drawn without replacement and sorted, or all of them when limit is
 * absent or not smaller. A fixed fork of the plugin's RNG makes every evaluation use the same subset.
 */
export function subsetIndices(size: number, limit: number | undefined, rng: Rng): Int32Array | undefined {
  if (limit === undefined || limit >= size) return undefined;
  return rng.permutation(size).subarray(0, limit).sort();
}

/** Features and labels of a labelled split, optionally a seeded subset of it. */
export async function labelledFeatures(
  encoder: FeatureExtractor,
  dataset: Dataset,
  split: 'train' | 'test',
  where: string,
  options: { limit?: number; rng: Rng; batchSize: number; events?: EventBus },
): Promise<{ set: FeatureSet; labels: Int32Array }> {
  const indices = subsetIndices(dataset.info.size, options.limit, options.rng.fork(`limit-${split}`));
  const set = await extractFeatures(encoder, dataset, {
    batchSize: options.batchSize,
    indices,
    events: options.events,
    task: `${where}: embed ${split}`,
  });
  return { set, labels: requireLabels(set, split, where) };
}
