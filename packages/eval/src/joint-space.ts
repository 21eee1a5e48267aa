import { type FeatureExtractor, GenviewError, type VisionLanguageEncoder, tf } from '@genview/core';

/**
 * The image side of a vision-language encoder's joint space as a plain FeatureExtractor, so
 * extractFeatures batches, disposes and labels it like any other embedding pass.
 */
export function jointImageExtractor(encoder: VisionLanguageEncoder): FeatureExtractor {
  return { featureDim: encoder.jointDim, embed: (images) => encoder.embedImages(images) };
}

/**
 * Texts embedded in the joint space `batchSize` at a time (a text tower's activations grow with the
 * batch like an image tower's), copied to one row-major Float32Array [texts, jointDim].
 */
export async function embedTextsBatched(encoder: VisionLanguageEncoder, texts: readonly string[], batchSize: number, where: string): Promise<Float32Array> {
  if (!(batchSize >= 1)) throw new GenviewError('BAD_INPUT', `textBatchSize must be at least 1, got ${batchSize}.`, { where });
  const dim = encoder.jointDim;
  const out = new Float32Array(texts.length * dim);
  for (let start = 0; start < texts.length; start += batchSize) {
    const chunk = texts.slice(start, start + batchSize);
    const embedded = tf.tidy(() => encoder.embedTexts(chunk));
    try {
      const [rows, cols] = embedded.shape;
      if (embedded.rank !== 2 || rows !== chunk.length || cols !== dim) {
        throw new GenviewError(
          'BAD_SHAPE',
          `encoder.embedTexts returned [${embedded.shape.join(', ')}] for ${chunk.length} texts; expected [${chunk.length}, ${dim}] (jointDim).`,
          { where, fix: 'make embedTexts return one jointDim row per text.' },
        );
      }
      out.set(await embedded.data(), start * dim);
    } finally {
      embedded.dispose();
    }
  }
  return out;
}
