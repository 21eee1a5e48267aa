import { type Dataset, type EventBus, GenviewError, type Tensor3D, tf } from '@genview/core';
import type { FeatureSet } from '@genview/eval';
import { OnnxDiffusionPipeline, readPipelineFolder } from '@genview/views';
import { BUNDLED_PIPELINE, bundledPipelineDir } from '../bundled/tiny-unclip';
import { type PriorFeatures, tablePrior } from './features';

export interface GenerativePriorOptions {
  /** Images per image-encoder call. */
  batchSize?: number;
  /** onnxruntime threads per operator; 0 lets onnxruntime choose. */
  threads?: number;
  events?: EventBus;
}

/** A loader error re-anchored at the config field that named the folder; the loader's own fix is kept. */
function atPipelineField(error: unknown, where: string): unknown {
  if (!(error instanceof GenviewError)) return error;
  const part = error.where ? ` (${error.where})` : '';
  return new GenviewError(error.code, `the generative prior cannot use its pipeline${part}: ${error.problem}`, { where: `${where}.pipeline`, fix: error.fix, cause: error });
}

/**
 * Opens the pipeline, refusing one without an image encoder before any onnxruntime session is made:
 * the prior is that encoder's embedding, and a text-only export has none.
 */
async function openPipeline(dir: string, threads: number, where: string): Promise<OnnxDiffusionPipeline> {
  try {
    const folder = await readPipelineFolder(dir);
    if (!folder.has.image_encoder) {
      throw new GenviewError('NOT_FOUND', `the pipeline ${dir} has no image_encoder/model.onnx, and the generative prior is that encoder's image embedding.`, {
        where: `${where}.pipeline`,
        fix: `use an unCLIP export (it includes the CLIP image encoder), e.g. pipeline: ${BUNDLED_PIPELINE}; or use source kind "encoder" for another frozen encoder.`,
      });
    }
    return await OnnxDiffusionPipeline.load(dir, { threads });
  } catch (error) {
    if (error instanceof GenviewError && error.where === `${where}.pipeline`) throw error;
    throw atPipelineField(error, where);
  }
}

/**
 * A frozen generative model's own encoder over a dataset: the unCLIP image encoder's embedding (the
 * conditioning it generates from), one row per dataset index. embedImages resizes and converts grey and
 * colour to the encoder's channels, so any dataset fits any pipeline. Runs once, before training.
 */
export async function generativeFeatures(dataset: Dataset, pipeline: string, options: GenerativePriorOptions = {}, where = 'prior'): Promise<FeatureSet> {
  const batchSize = options.batchSize ?? 256;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new GenviewError('BAD_INPUT', `batchSize must be a positive integer, got ${batchSize}.`, { where: `${where}.batchSize`, fix: 'use the images per encoder call that fit in memory, e.g. 256.' });
  }
  const count = dataset.info.size;
  if (count === 0) throw new GenviewError('EMPTY_DATASET', `dataset "${dataset.info.name}" has no samples to embed.`, { where: `${where}.data` });
  const model = await openPipeline(await bundledPipelineDir(pipeline, `${where}.pipeline`), options.threads ?? 0, where);
  let features: Float32Array | undefined;
  let dim = 0;
  try {
    for (let start = 0; start < count; start += batchSize) {
      const indices = Int32Array.from({ length: Math.min(batchSize, count - start) }, (_, i) => start + i);
      const batch = await dataset.read(indices);
      const images = tf.unstack(batch.images) as Tensor3D[];
      batch.images.dispose();
      let rows: Float32Array[];
      try {
        rows = await model.embedImages(images);
      } finally {
        tf.dispose(images);
      }
      // The width is the export's (its image_embeds output), known only after the first call.
      dim ||= rows[0]?.length ?? 0;
      features ??= new Float32Array(count * dim);
      for (const [i, row] of rows.entries()) features.set(row, (start + i) * dim);
      options.events?.emit('progress', { task: 'generative prior features', done: start + indices.length, total: count, unit: 'images' });
    }
  } finally {
    await model.dispose();
  }
  return { features: features as Float32Array, dim };
}

/** Prior features from a generative model's encoder (Dufumier et al.'s generative prior), kept in JS memory. */
export async function generativePrior(dataset: Dataset, pipeline: string, options: GenerativePriorOptions = {}, where = 'prior'): Promise<PriorFeatures> {
  const set = await generativeFeatures(dataset, pipeline, options, where);
  return tablePrior(set.features, set.dim, where);
}
