import { type FeatureExtractor, GenviewError, type Tensor2D, type Tensor4D, l2Normalize, tf } from '@genview/core';

/**
 * MCL's cross-stage integration as one encoder: every stage's features are L2-normalised, concatenated,
 * and the concatenation is L2-normalised once, so each stage weighs the same and features learned early
 * are kept. Any evaluator can use it like a single encoder.
 */
export function integratedEncoder(encoders: readonly FeatureExtractor[]): FeatureExtractor {
  if (encoders.length === 0) {
    throw new GenviewError('BAD_INPUT', 'integration needs at least one stage encoder.', { where: 'mcl.integrate', fix: 'train at least one stage.' });
  }
  return {
    featureDim: encoders.reduce((d, e) => d + e.featureDim, 0),
    embed: (images: Tensor4D): Tensor2D =>
      tf.tidy(() => l2Normalize(tf.concat(encoders.map((e) => l2Normalize(e.embed(images), 1)), 1) as Tensor2D, 1)),
  };
}
