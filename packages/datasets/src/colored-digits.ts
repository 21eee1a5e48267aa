import { type Batch, type Dataset, type DatasetInfo, GenviewError, Rng, definePlugin, z } from '@genview/core';
import { type GlyphPose, drawDigit, samplePose } from './digit-glyphs';
import { InMemoryDataset } from './in-memory';
import { DATASETS_PACKAGE, FORMER_DATASET_PACKAGES } from './package-name';

/** Ten well-separated RGB colours (names double as class names of the colour attribute). */
export const DIGIT_COLORS: readonly { name: string; rgb: [number, number, number] }[] = [
  { name: 'red', rgb: [1, 0.1, 0.1] },
  { name: 'green', rgb: [0.1, 0.9, 0.1] },
  { name: 'blue', rgb: [0.15, 0.3, 1] },
  { name: 'yellow', rgb: [1, 0.95, 0.1] },
  { name: 'magenta', rgb: [1, 0.1, 1] },
  { name: 'cyan', rgb: [0.1, 1, 1] },
  { name: 'orange', rgb: [1, 0.55, 0.05] },
  { name: 'violet', rgb: [0.55, 0.2, 1] },
  { name: 'white', rgb: [1, 1, 1] },
  { name: 'brown', rgb: [0.6, 0.35, 0.15] },
];

export const DIGIT_NAMES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** A dataset whose images carry several independent labelled attributes (labels = the primary one). */
export class AttributedDataset extends InMemoryDataset {
  constructor(
    pixels: Float32Array | Uint8Array,
    shape: readonly [number, number, number, number],
    options: { name: string; labels: Int32Array; classNames: string[] },
    /** Every attribute's value per image, e.g. { digit, color }. */
    readonly attributes: Readonly<Record<string, Int32Array>>,
    /** Class names per attribute. */
    readonly attributeNames: Readonly<Record<string, string[]>>,
  ) {
    super(pixels, shape, options);
  }

  /** The same images labelled by another attribute (e.g. colour), for evaluating that feature. */
  labelledBy(attribute: string): Dataset {
    return relabelDataset(this, this.requireAttribute(attribute), this.attributeNames[attribute], `${this.info.name}:${attribute}`);
  }

  private requireAttribute(attribute: string): Int32Array {
    const values = this.attributes[attribute];
    if (!values) {
      throw new GenviewError('BAD_INPUT', `"${this.info.name}" has no attribute "${attribute}".`, {
        where: `${this.info.name}.attributes`,
        fix: `use one of: ${Object.keys(this.attributes).join(', ')}.`,
      });
    }
    return values;
  }
}

/** A view of `dataset` with other labels (same images and indices). */
export function relabelDataset(dataset: Dataset, labels: Int32Array, classNames: string[] | undefined, name = `${dataset.info.name}:relabelled`): Dataset {
  if (labels.length !== dataset.info.size) {
    throw new GenviewError('BAD_SHAPE', `got ${labels.length} labels for ${dataset.info.size} images.`, { where: `${name}.labels` });
  }
  const info: DatasetInfo = { ...dataset.info, name, ...(classNames ? { classNames: [...classNames] } : {}) };
  return {
    info,
    labels,
    async read(indices: ArrayLike<number>): Promise<Batch> {
      const batch = await dataset.read(indices);
      return { ...batch, labels: Int32Array.from(batch.indices, (i) => labels[i]) };
    },
  };
}

export interface ColoredDigitsOptions {
  count: number;
  /** Image side in pixels. */
  size?: number;
  seed?: number;
  /** How many of DIGIT_COLORS to use (classes of the colour attribute). */
  colors?: number;
  /** Per-image uniform jitter of each colour channel, so colour is a strong but not a lookup-table cue. */
  colorNoise?: number;
  /** Paint the digit stroke (on black) or the background (behind a grey digit). */
  colorTarget?: 'foreground' | 'background';
  name?: string;
}

/** What one coloured digit image is made of: enough to re-render it or a variant of it. */
export interface ColoredDigitSpec {
  digit: number;
  color: number;
  pose: GlyphPose;
  /** Channel offsets added to the colour. */
  tint: [number, number, number];
}

export function sampleColoredDigitSpec(rng: Rng, colors: number, colorNoise: number): ColoredDigitSpec {
  // Digit and colour are drawn independently: neither predicts the other.
  const digit = rng.int(10);
  const color = rng.int(colors);
  const pose = samplePose(rng);
  const tint: [number, number, number] = [rng.uniform(-colorNoise, colorNoise), rng.uniform(-colorNoise, colorNoise), rng.uniform(-colorNoise, colorNoise)];
  return { digit, color, pose, tint };
}

/** Renders one spec as RGB into `out` at `offset` (size × size × 3). `stroke` is scratch of size × size. */
export function renderColoredDigit(
  spec: ColoredDigitSpec,
  size: number,
  colorTarget: 'foreground' | 'background',
  out: Float32Array,
  offset: number,
  stroke = new Float32Array(size * size),
): void {
  drawDigit(spec.digit, spec.pose, size, stroke);
  const rgb = DIGIT_COLORS[spec.color].rgb.map((v, c) => Math.max(0, Math.min(1, v + spec.tint[c])));
  for (let p = 0; p < size * size; p++) {
    const a = stroke[p];
    for (let c = 0; c < 3; c++) {
      // Foreground: a coloured stroke on black. Background: a mid-grey stroke over a dimmed colour.
      out[offset + p * 3 + c] = colorTarget === 'foreground' ? a * rgb[c] : a * 0.5 + (1 - a) * 0.6 * rgb[c];
    }
  }
}

function checkColors(colors: number, where: string): void {
  if (!(Number.isInteger(colors) && colors >= 1 && colors <= DIGIT_COLORS.length)) {
    throw new GenviewError('INVALID_CONFIG', `colors must be an integer in [1, ${DIGIT_COLORS.length}], got ${colors}.`, { where });
  }
}

/**
 * Coloured digits: a feature-suppression testbed in the spirit of coloured MNIST (digits are drawn by
 * code because MNIST is not available offline). Colour is independent of the digit; with augmentations
 * that keep colour, contrastive learning can solve its task by colour alone and suppress digit shape.
 * labels = digit; attributes = { digit, color }.
 */
export function coloredDigits(options: ColoredDigitsOptions): AttributedDataset {
  const { count, size = 28, seed = 0, colors = 10, colorNoise = 0.05, colorTarget = 'foreground' } = options;
  const name = options.name ?? 'colored-digits';
  if (!(Number.isInteger(count) && count >= 1)) throw new GenviewError('INVALID_CONFIG', `count must be a positive integer, got ${count}.`, { where: `${name}.count` });
  if (!(Number.isInteger(size) && size >= 8)) throw new GenviewError('INVALID_CONFIG', `size must be an integer ≥ 8, got ${size}.`, { where: `${name}.size` });
  checkColors(colors, `${name}.colors`);
  const rng = new Rng(seed);
  const pixels = new Float32Array(count * size * size * 3);
  const digit = new Int32Array(count);
  const color = new Int32Array(count);
  const stroke = new Float32Array(size * size);
  for (let i = 0; i < count; i++) {
    const spec = sampleColoredDigitSpec(rng, colors, colorNoise);
    digit[i] = spec.digit;
    color[i] = spec.color;
    renderColoredDigit(spec, size, colorTarget, pixels, i * size * size * 3, stroke);
  }
  const colorNames = DIGIT_COLORS.slice(0, colors).map((c) => c.name);
  return new AttributedDataset(
    pixels,
    [count, size, size, 3],
    { name, labels: digit, classNames: DIGIT_NAMES },
    { digit, color },
    { digit: DIGIT_NAMES, color: colorNames },
  );
}

export const coloredDigitsSchema = z
  .object({
    split: z.enum(['train', 'test']).default('train').describe('train and test are drawn from different seeds'),
    count: z.number().int().positive().optional().describe('images (default 10,000 train, 2,000 test)'),
    size: z.number().int().min(8).default(28).describe('image side in pixels'),
    seed: z.number().int().default(0),
    colors: z.number().int().min(1).max(DIGIT_COLORS.length).default(10),
    colorNoise: z.number().min(0).max(0.5).default(0.05),
    colorTarget: z.enum(['foreground', 'background']).default('foreground'),
    labelBy: z.enum(['digit', 'color']).default('digit').describe('which attribute is the label evaluators see'),
  })
  .strict();

export const coloredDigitsPlugin = definePlugin({
  kind: 'dataset',
  name: 'colored-digits',
  package: DATASETS_PACKAGE,
  formerPackages: FORMER_DATASET_PACKAGES,
  description: 'Coloured digits drawn by code (MNIST-like poses; colour independent of digit): a feature-suppression testbed (MCL).',
  configSchema: coloredDigitsSchema,
  create(config) {
    const dataset = coloredDigits({
      count: config.count ?? (config.split === 'train' ? 10_000 : 2_000),
      size: config.size,
      // Splits use different streams of the same seed so a test image is never a train image.
      seed: config.split === 'train' ? config.seed * 2 : config.seed * 2 + 1,
      colors: config.colors,
      colorNoise: config.colorNoise,
      colorTarget: config.colorTarget,
      name: `colored-digits/${config.split}`,
    });
    return config.labelBy === 'digit' ? dataset : dataset.labelledBy(config.labelBy);
  },
});
