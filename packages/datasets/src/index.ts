import type { AnyPlugin } from '@genview/core';
import { cifar100Plugin, cifar10Plugin } from './binary/cifar';
import { stl10Plugin } from './binary/stl10';
import { captionedShapesPlugin } from './captioned-shapes';
import { coloredDigitsPlugin } from './colored-digits';
import { digitsOnFashionPlugin } from './digits-on-textures';
import { fashionMnistPlugin } from './fashion-mnist';
import { imageFolderPlugin } from './image-folder';
import { imageTextPlugin } from './image-text';
import { mnistPlugin } from './mnist';
import { webDatasetPlugin } from './webdataset/webdataset';

// Data in memory and the IDX format (MNIST, Fashion-MNIST)
export { InMemoryDataset, type InMemoryDatasetOptions, inMemoryDataset } from './in-memory';
export { type IdxData, type IdxKind, clearIdxCache, parseIdx, readIdx } from './idx';
export { IDX_FILE_STEMS, type IdxSplit, type IdxSplitOptions, loadIdxSplit } from './idx-split';
export { fashionMnistPlugin, fashionMnistSchema } from './fashion-mnist';
export { mnistPlugin, mnistSchema } from './mnist';
export { FASHION_CAPTION_TEMPLATES, FASHION_CLASS_WORDS, type FashionCaptionOptions, fashionCaptions } from './fashion-captions';

// Image files on disk
export {
  IMAGE_EXTENSIONS,
  type ImageFolderConfig,
  ImageFolderDataset,
  type SkippedFile,
  imageFolderPlugin,
  imageFolderSchema,
  loadImageFolder,
} from './image-folder';

// Image-caption pairs from a manifest, and the on-demand decoding behind it
export { type ImageTextConfig, imageTextPlugin, imageTextSchema, loadImageText } from './image-text';
export { StreamingImageDataset, type StreamingImagesOptions } from './images/streaming-images';

// WebDataset tar shards, indexed by header scan and decoded on demand
export { type WebDatasetConfig, loadWebDataset, webDatasetPlugin, webDatasetSchema } from './webdataset/webdataset';
export { expandBraces } from './webdataset/braces';

// Standard benchmarks in their binary versions, read on demand from a user folder
export { cifar100Plugin, cifar100Schema, cifar10Plugin, cifar10Schema, loadCifar10, loadCifar100 } from './binary/cifar';
export { loadStl10, stl10Plugin, stl10Schema } from './binary/stl10';
export { RecordFilesDataset } from './binary/record-files';

// Synthetic data with known factors (feature suppression, compositional captions)
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
} from './colored-digits';
export { type ColoredStrokesOptions, coloredStrokes } from './colored-strokes';
export { type DigitsOnTexturesOptions, digitsOnFashionPlugin, digitsOnFashionSchema, digitsOnTextures, greyTextures } from './digits-on-textures';
export { type FeaturePairs, type FeaturePairsOptions, coloredDigitPairs } from './feature-pairs';
export { CaptionedDataset } from './captioned';
export {
  CaptionedShapesDataset,
  type CaptionedShapesOptions,
  RELATION_NAMES,
  SHAPE_ATTRIBUTE_COLUMNS,
  SIZE_NAMES,
  type ShapeAttributeColumn,
  type ShapeLabel,
  type ShapeObjectSpec,
  type ShapeSceneSpec,
  captionedShapes,
  captionedShapesPlugin,
  captionedShapesSchema,
  renderShapeScene,
  sampleShapeScene,
} from './captioned-shapes';
export { SHAPE_COLORS, SHAPE_NAMES, type ShapeName, TEXTURE_NAMES, type TextureName } from './shape-drawing';

/** Every plugin of @genview/datasets, for `registry.register(plugins)`. */
export const plugins: readonly AnyPlugin[] = [
  fashionMnistPlugin,
  mnistPlugin,
  imageFolderPlugin,
  imageTextPlugin,
  webDatasetPlugin,
  cifar10Plugin,
  cifar100Plugin,
  stl10Plugin,
  coloredDigitsPlugin,
  digitsOnFashionPlugin,
  captionedShapesPlugin,
];
