import type { AnyPlugin } from '@genview/core';
import { adaptiveNoisePlugin } from './conditioning/adaptive-noise';
import { alignmentDiversityPlugin } from './scorers/alignment-diversity';
import { genviewFgBgPlugin } from './scorers/genview-fg-bg';

export {
  fitForegroundDirection,
  type FitForegroundOptions,
  type ForegroundDirection,
  type Orientation,
  type TokenBatches,
  type TokenSource,
} from './foreground/direction';
export { loadForegroundDirection, saveForegroundDirection } from './foreground/direction-file';
export { fitForegroundDirectionOnDataset, type FitOnDatasetOptions } from './foreground/fit-dataset';
export { patchTokensOf, requireTokenEncoder, type TokenEncoder } from './foreground/token-encoder';
export {
  foregroundRatios,
  poolForegroundBackground,
  softForegroundMasks,
  type PooledFeatures,
  type SoftMasks,
} from './foreground/masks';
export {
  GENVIEW_NOISE_BINS,
  adaptiveNoiseLevels,
  noiseLevelBinsSchema,
  noiseLevelForRatio,
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
  type AdaptiveNoiseDependencies,
  type AdaptiveNoiseOptions,
} from './conditioning/adaptive-noise';

/** Every quality scorer in this package, for `registry.register(plugins)`. */
export const plugins: readonly AnyPlugin[] = [genviewFgBgPlugin, alignmentDiversityPlugin, adaptiveNoisePlugin];
