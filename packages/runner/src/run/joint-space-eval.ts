import { type FeatureExtractor, isGenviewError, isVisionLanguageEncoder } from '@genview/core';

/**
 * True when an evaluator refused an image-only encoder (raw pixels, a CNN baseline) for lacking a joint
 * image-text space: that row of the results is then left out rather than failing the run. The test is
 * on the NO_JOINT_SPACE code of core's requireVisionLanguageEncoder, the one way evaluators are meant to refuse.
 */
export function refusedForNoJointSpace(error: unknown, encoder: FeatureExtractor): boolean {
  return !isVisionLanguageEncoder(encoder) && isGenviewError(error, 'NO_JOINT_SPACE');
}
