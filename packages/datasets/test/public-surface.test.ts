import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { publicNames } from '../../../tools/vitest/public-surface';

// The published API of this package, pinned. A failure here means an export was added or removed: if
// that is deliberate, document the name in the README, update this list and add a changeset; if not,
// import the internal from its module path instead of exporting it.

/** @genview/datasets, sorted. */
const ROOT = [
  'AttributedDataset',
  'CaptionedDataset',
  'CaptionedShapesDataset',
  'CaptionedShapesOptions',
  'ColoredDigitSpec',
  'ColoredDigitsOptions',
  'DIGIT_COLORS',
  'DIGIT_NAMES',
  'DigitsOnTexturesOptions',
  'FASHION_CAPTION_TEMPLATES',
  'FASHION_CLASS_WORDS',
  'FashionCaptionOptions',
  'FeaturePairs',
  'FeaturePairsOptions',
  'IDX_FILE_STEMS',
  'IMAGE_EXTENSIONS',
  'IdxData',
  'IdxKind',
  'IdxSplit',
  'IdxSplitOptions',
  'ImageFolderConfig',
  'ImageFolderDataset',
  'InMemoryDataset',
  'InMemoryDatasetOptions',
  'RELATION_NAMES',
  'RecordFilesDataset',
  'SHAPE_ATTRIBUTE_COLUMNS',
  'SHAPE_COLORS',
  'SHAPE_NAMES',
  'SIZE_NAMES',
  'ShapeAttributeColumn',
  'ShapeLabel',
  'ShapeName',
  'ShapeObjectSpec',
  'ShapeSceneSpec',
  'SkippedFile',
  'TEXTURE_NAMES',
  'TextureName',
  'captionedShapes',
  'captionedShapesPlugin',
  'captionedShapesSchema',
  'cifar100Plugin',
  'cifar100Schema',
  'cifar10Plugin',
  'cifar10Schema',
  'clearIdxCache',
  'coloredDigitPairs',
  'coloredDigits',
  'coloredDigitsPlugin',
  'coloredDigitsSchema',
  'digitsOnFashionPlugin',
  'digitsOnFashionSchema',
  'digitsOnTextures',
  'fashionCaptions',
  'fashionMnistPlugin',
  'fashionMnistSchema',
  'greyTextures',
  'imageFolderPlugin',
  'imageFolderSchema',
  'inMemoryDataset',
  'loadCifar10',
  'loadCifar100',
  'loadIdxSplit',
  'loadImageFolder',
  'loadStl10',
  'mnistPlugin',
  'mnistSchema',
  'parseIdx',
  'plugins',
  'readIdx',
  'relabelDataset',
  'renderColoredDigit',
  'renderShapeScene',
  'sampleColoredDigitSpec',
  'sampleShapeScene',
  'stl10Plugin',
  'stl10Schema',
];

describe('public surface', () => {
  it('@genview/datasets exports exactly the pinned names', async () => {
    const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));
    expect(publicNames(entry)).toEqual(ROOT);
    // Every value the module really exports is a pinned name (types vanish at run time).
    const runtime = Object.keys(await import('../src/index'));
    expect(runtime.filter((name) => !ROOT.includes(name))).toEqual([]);
  });
});
