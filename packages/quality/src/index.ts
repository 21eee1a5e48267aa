import type { AnyPlugin } from '@genview/core';
import { adaptiveNoisePlugin } from './conditioning/adaptive-noise';
import { alignmentDiversityPlugin } from './scorers/alignment-diversity';
import { genviewFgBgPlugin } from './scorers/genview-fg-bg';

export {
  fitForegroundDirection,
  leadingEigenvector,
  validateForegroundDirection,
  type FitForegroundOptions,
  type ForegroundDirection,
  type Orientation,
  type TokenBatches,
  type TokenSource,
} from './foreground/direction';
export {
  decodeForegroundDirection,
  encodeForegroundDirection,
  loadForegroundDirection,
  saveForegroundDirection,
} from './foreground/direction-file';
export { fitForegroundDirectionOnDataset, type FitOnDatasetOptions } from './foreground/fit-dataset';
export { patchTokensOf, requireTokenEncoder, type TokenEncoder } from './foreground/token-encoder';
export {
  directionColumn,
  foregroundRatios,
  hardForegroundMask,
  poolForegroundBackground,
  projectTokens,
  softForegroundMasks,
  type PooledFeatures,
  type SoftMasks,
} from './foreground/masks';
export {
  GENVIEW_NOISE_BINS,
  adaptiveNoiseLevels,
  noiseLevelBinsSchema,
  noiseLevelForRatio,
  noiseLevelsForRatios,
  validateNoiseLevelBins,
  type NoiseLevelBins,
} from './foreground/noise-level';
export {
  createGenviewFgBgScorer,
  genviewFgBgPlugin,
  type GenviewFgBgOptions,
  type GenviewFgBgScorer,
  type PairSimilarities,
} from './scorers/genview-fg-bg';
export {
  alignmentDiversityPlugin,
  createAlignmentDiversityScorer,
  imageImageWeights,
  imageTextWeights,
  labelPairMask,
  nonzeroMeanWeights,
  pooledViewFeatures,
  type AlignmentDiversityOptions,
  type AlignmentDiversityScorer,
  type ImageImageInput,
  type ImageTextInput,
  type Labels,
  type WeightMatrix,
} from './scorers/alignment-diversity';

export {
  AdaptiveNoiseConditioning,
  adaptiveNoisePlugin,
  adaptiveNoiseSchema,
  viewSeed,
  type AdaptiveNoiseDependencies,
  type AdaptiveNoiseOptions,
} from './conditioning/adaptive-noise';

/** Every quality scorer in this package, for `registry.register(plugins)`. */
export const plugins: readonly AnyPlugin[] = [genviewFgBgPlugin, alignmentDiversityPlugin, adaptiveNoisePlugin];
