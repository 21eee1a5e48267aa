import type { AnyPlugin } from '@genview/core';
import { colorJitterPlugin } from './augment/color-jitter';
import { gaussianBlurPlugin } from './augment/gaussian-blur';
import { horizontalFlipPlugin } from './augment/horizontal-flip';
import { randomGrayscalePlugin } from './augment/random-grayscale';
import { randomResizedCropPlugin } from './augment/random-resized-crop';
import { solarizePlugin } from './augment/solarize';
import { coloredDigitsPlugin } from './datasets/colored-digits';
import { digitsOnFashionPlugin } from './datasets/digits-on-textures';
import { fashionMnistPlugin } from './datasets/fashion-mnist';
import { imageFolderPlugin } from './datasets/image-folder';
import { mnistPlugin } from './datasets/mnist';

// Datasets
export { type IdxData, type IdxKind, clearIdxCache, parseIdx, readIdx, readIdxCached } from './datasets/idx';
export { IDX_FILE_STEMS, type IdxSplit, type IdxSplitOptions, loadIdxSplit } from './datasets/idx-split';
export { InMemoryDataset, type InMemoryDatasetOptions, inMemoryDataset } from './datasets/in-memory';
export { fashionMnistPlugin, fashionMnistSchema } from './datasets/fashion-mnist';
export { mnistPlugin, mnistSchema } from './datasets/mnist';
export {
  IMAGE_EXTENSIONS,
  type ImageFolderConfig,
  ImageFolderDataset,
  type SkippedFile,
  imageFolderPlugin,
  imageFolderSchema,
  loadImageFolder,
} from './datasets/image-folder';
export {
  AttributedDataset,
  type ColoredDigitSpec,
  type ColoredDigitsOptions,
  DIGIT_COLORS,
  DIGIT_NAMES,
  coloredDigits,
  coloredDigitsPlugin,
  coloredDigitsSchema,
  relabelDataset,
  renderColoredDigit,
  sampleColoredDigitSpec,
} from './datasets/colored-digits';
export { DIGIT_STROKES, type GlyphPose, drawDigit, samplePose } from './datasets/digit-glyphs';
export {
  type DigitsOnTexturesOptions,
  digitsOnFashionPlugin,
  digitsOnFashionSchema,
  digitsOnTextures,
  greyTextures,
} from './datasets/digits-on-textures';
export { type FeaturePairs, type FeaturePairsOptions, coloredDigitPairs } from './datasets/feature-pairs';

// Augmentations
export { LUMA_WEIGHTS, type SizeOption } from './augment/common';
export {
  type CropRect,
  RandomResizedCrop,
  type RandomResizedCropOptions,
  type RandomResizedCropParams,
  randomResizedCropPlugin,
  randomResizedCropSchema,
  sampleCropRect,
} from './augment/random-resized-crop';
export { HorizontalFlip, type HorizontalFlipOptions, type HorizontalFlipParams, horizontalFlipPlugin, horizontalFlipSchema } from './augment/horizontal-flip';
export { ColorJitter, type ColorJitterOptions, type ColorJitterParams, type JitterOp, colorJitterPlugin, colorJitterSchema } from './augment/color-jitter';
export { hsvToRgb, rgbToHsv, shiftHue } from './augment/hsv';
export {
  RandomGrayscale,
  type RandomGrayscaleOptions,
  type RandomGrayscaleParams,
  luma,
  randomGrayscalePlugin,
  randomGrayscaleSchema,
} from './augment/random-grayscale';
export {
  GaussianBlur,
  type GaussianBlurOptions,
  type GaussianBlurParams,
  defaultKernelSize,
  gaussianBlurPlugin,
  gaussianBlurSchema,
  gaussianKernel1d,
} from './augment/gaussian-blur';
export { Solarize, type SolarizeOptions, type SolarizeParams, solarizePlugin, solarizeSchema } from './augment/solarize';
export { type PipelineParams, ViewPipeline, buildPipeline } from './augment/pipeline';
export { augmentationFromRef, pipelineFromRefs } from './augment/from-ref';
export { type AugmentationPreset, type AugmentationPresetName, augmentationPresets, presetFor, presetPipelines } from './augment/presets';

/** Every plugin of @genview/views, for `registry.register(plugins)`. */
export const plugins: readonly AnyPlugin[] = [
  fashionMnistPlugin,
  mnistPlugin,
  imageFolderPlugin,
  coloredDigitsPlugin,
  digitsOnFashionPlugin,
  randomResizedCropPlugin,
  horizontalFlipPlugin,
  colorJitterPlugin,
  randomGrayscalePlugin,
  gaussianBlurPlugin,
  solarizePlugin,
];
