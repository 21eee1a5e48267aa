import { GenviewError } from '../errors';
import type { FeatureExtractor, VisionLanguageEncoder } from './contracts';

export function isVisionLanguageEncoder(encoder: FeatureExtractor): encoder is VisionLanguageEncoder {
  const candidate = encoder as Partial<VisionLanguageEncoder>;
  return typeof candidate.embedImages === 'function' && typeof candidate.embedTexts === 'function' && Number.isInteger(candidate.jointDim);
}

/**
 * For evaluators and scorers that read a joint image-text space: a clear error instead of a missing
 * method. The error's code is NO_JOINT_SPACE, so a host can tell this refusal from other failures
 * (the runner leaves such an evaluator's row out for image-only baselines).
 */
export function requireVisionLanguageEncoder(encoder: FeatureExtractor, where: string): VisionLanguageEncoder {
  if (isVisionLanguageEncoder(encoder)) return encoder;
  throw new GenviewError('NO_JOINT_SPACE', 'this encoder has no joint image-text space (embedImages, embedTexts, jointDim).', {
    where,
    fix: 'evaluate a vision-language framework (clip, slip), or pass an encoder implementing VisionLanguageEncoder from @genview/core.',
  });
}
