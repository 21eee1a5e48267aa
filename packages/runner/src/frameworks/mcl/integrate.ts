import { type FeatureExtractor, GenviewError, type Tensor2D, type Tensor4D, l2Normalize, tf } from '@genview/core';

/**
 * MCL's cross-stage integration as one encoder: every stage's features are L2-normalised, scaled by the
 * stage's weight, concatenated, and the concatenation is L2-normalised once, so features learned early
 * are kept. Without weights every stage weighs the same (upstream's integration). A lower weight on the
 * first stage keeps the feature it latched onto (its clusters are that feature) while it no longer
 * crowds out what the later stages learned in cosine distances. Any evaluator can use it like a single
 * encoder.
 */
export function integratedEncoder(encoders: readonly FeatureExtractor[], weights?: readonly number[], where = 'framework.integration.weights'): FeatureExtractor {
  if (encoders.length === 0) {
    throw new GenviewError('BAD_INPUT', 'integration needs at least one stage encoder.', { where: 'mcl.integrate', fix: 'train at least one stage.' });
  }
  if (weights) checkIntegrationWeights(weights, encoders.length, where);
  return {
    featureDim: encoders.reduce((d, e) => d + e.featureDim, 0),
    embed: (images: Tensor4D): Tensor2D => tf.tidy(() => joinStages(encoders.map((e) => e.embed(images)), weights)),
  };
}

/**
 * The integration over stage features already computed (rows = images, one tensor per stage): what
 * integratedEncoder returns, for callers that embed each stage once and integrate under several weights.
 */
export function integrateStageFeatures(stageFeatures: readonly Tensor2D[], weights?: readonly number[], where = 'integrateStageFeatures weights'): Tensor2D {
  if (weights) checkIntegrationWeights(weights, stageFeatures.length, where);
  return joinStages(stageFeatures, weights);
}

/** Weights already checked: each stage L2-normalised and scaled, concatenated, normalised again. */
function joinStages(stageFeatures: readonly Tensor2D[], weights?: readonly number[]): Tensor2D {
  return tf.tidy(() => {
    const parts = stageFeatures.map((features, s) => {
      const unit = l2Normalize(features, 1);
      return weights && weights[s] !== 1 ? tf.mul(unit, weights[s]) : unit;
    });
    return l2Normalize(tf.concat(parts, 1) as Tensor2D, 1);
  });
}

/** One finite, non-negative weight per stage, not all zero; else a GenviewError naming `where`. */
export function checkIntegrationWeights(weights: readonly number[], stages: number, where: string): void {
  if (weights.length !== stages) {
    throw new GenviewError('INVALID_CONFIG', `${where} lists ${weights.length} weights for ${stages} stages.`, {
      where,
      fix: `give one weight per stage (${stages} numbers, first stage first), or leave it out to weigh every stage the same.`,
    });
  }
  if (!weights.every((w) => Number.isFinite(w) && w >= 0) || !weights.some((w) => w > 0)) {
    throw new GenviewError('INVALID_CONFIG', `${where} must be non-negative numbers, at least one above 0, got [${weights.join(', ')}].`, {
      where,
      fix: 'use e.g. [0.5, 1, 1] to halve the first stage, or 0 to leave a stage out of the integration.',
    });
  }
}
