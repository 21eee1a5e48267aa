import { type Augmentation, type ImageShape, type Rng, type Tensor4D, definePlugin, tf, z } from '@genview/core';
import { checkBatchSize, checkImageShape, checkImages, checkParamsFit, parseOptions, probabilityOption, selectRows } from './common';
import { shiftHue } from './hsv';
import { luma } from './random-grayscale';

const NAME = 'color-jitter';

const strength = z.union([z.number().min(0), z.tuple([z.number().min(0), z.number().min(0)])]);
const hueStrength = z.union([z.number().min(0).max(0.5), z.tuple([z.number().min(-0.5).max(0.5), z.number().min(-0.5).max(0.5)])]);

export const colorJitterSchema = z
  .object({
    brightness: strength.default(0.4).describe('factor uniform in [max(0, 1 - b), 1 + b], or a [min, max] range'),
    contrast: strength.default(0.4).describe('factor uniform in [max(0, 1 - c), 1 + c], or a [min, max] range'),
    saturation: strength.default(0.2).describe('factor uniform in [max(0, 1 - s), 1 + s], or a [min, max] range; identity on 1 channel'),
    hue: hueStrength.default(0.1).describe('hue shift uniform in [-h, h] turns (h <= 0.5), or a [min, max] range; identity on 1 channel'),
    p: probabilityOption(0.8),
    randomOrder: z.boolean().default(true).describe('apply the four adjustments in a random order per image (torchvision does)'),
  })
  .strict()
  .superRefine((value, ctx) => {
    for (const key of ['brightness', 'contrast', 'saturation', 'hue'] as const) {
      const v = value[key];
      if (Array.isArray(v) && v[0] > v[1]) ctx.addIssue({ code: 'custom', path: [key], message: `${key} range must be [min, max] with min <= max, got [${v.join(', ')}]` });
    }
  });

export type ColorJitterOptions = z.input<typeof colorJitterSchema>;

/** 0 brightness, 1 contrast, 2 saturation, 3 hue. */
export type JitterOp = 0 | 1 | 2 | 3;
const JITTER_OPS: JitterOp[] = [0, 1, 2, 3];
const IDENTITY = [1, 1, 1, 0];

export interface ColorJitterParams {
  /** Whether the jitter applies to each row at all (probability p). */
  applied: boolean[];
  /** Per row, the order of the four adjustments. */
  order: JitterOp[][];
  brightness: number[];
  contrast: number[];
  saturation: number[];
  hue: number[];
}

function factorRange(v: number | [number, number], center: number): [number, number] {
  if (Array.isArray(v)) return [v[0], v[1]];
  return center === 1 ? [Math.max(0, 1 - v), 1 + v] : [-v, v];
}

/**
 * torchvision ColorJitter semantics, batched, with per-image factors and (by default) a per-image
 * random order, as torchvision gives when it transforms images one at a time. Each row's order is
 * split around its hue shift: up to three blend slots, one hue pass, up to three blend slots, each
 * over the whole batch (see blendSlots).
 *   brightness: x·b · contrast: c·x + (1 − c)·mean(luma(x)) · saturation: s·x + (1 − s)·luma(x) ·
 *   hue: rotate H in HSV. Each result is clamped to [0, 1]. On 1-channel images saturation and hue
 *   are the identity (a grey image has no chroma).
 */
export class ColorJitter implements Augmentation<ColorJitterParams> {
  readonly name = NAME;
  readonly options: z.output<typeof colorJitterSchema>;
  private readonly ranges: [number, number][];

  constructor(options: ColorJitterOptions = {}, where = NAME) {
    this.options = parseOptions(colorJitterSchema, options, where);
    const o = this.options;
    this.ranges = [factorRange(o.brightness, 1), factorRange(o.contrast, 1), factorRange(o.saturation, 1), factorRange(o.hue, 0)];
  }

  /** An op whose range is the single identity value is skipped, as torchvision does (factor None). */
  private enabled(op: JitterOp): boolean {
    const [lo, hi] = this.ranges[op];
    return !(lo === IDENTITY[op] && hi === IDENTITY[op]);
  }

  sampleParams(rng: Rng, batchSize: number, imageShape: ImageShape): ColorJitterParams {
    checkBatchSize(batchSize, NAME);
    checkImageShape(imageShape, NAME);
    const params: ColorJitterParams = { applied: [], order: [], brightness: [], contrast: [], saturation: [], hue: [] };
    const keys = ['brightness', 'contrast', 'saturation', 'hue'] as const;
    for (let i = 0; i < batchSize; i++) {
      const applied = rng.float() < this.options.p;
      params.applied.push(applied);
      // Draws are made for every row whatever the outcome, so row i's values depend on the seed and i only.
      params.order.push(this.options.randomOrder ? (Array.from(rng.permutation(4)) as JitterOp[]) : [...JITTER_OPS]);
      for (const op of JITTER_OPS) {
        const [lo, hi] = this.ranges[op];
        const draw = rng.uniform(lo, hi);
        params[keys[op]].push(applied && this.enabled(op) ? draw : IDENTITY[op]);
      }
    }
    return params;
  }

  apply(images: Tensor4D, params: ColorJitterParams): Tensor4D {
    const [, , channels] = checkImages(images, NAME);
    const n = params.applied.length;
    checkParamsFit(images, n, NAME);
    const factors = [params.brightness, params.contrast, params.saturation, params.hue];
    // Per row, the adjustments that change something, split around the hue shift (the one costly op).
    const before: JitterOp[][] = [];
    const after: JitterOp[][] = [];
    const hueRows: boolean[] = [];
    for (let i = 0; i < n; i++) {
      const effective = params.applied[i]
        ? params.order[i].filter((op) => factors[op][i] !== IDENTITY[op] && !(channels === 1 && (op === 2 || op === 3)))
        : [];
      const hueAt = effective.indexOf(3);
      before.push(hueAt < 0 ? effective : effective.slice(0, hueAt));
      after.push(hueAt < 0 ? [] : effective.slice(hueAt + 1));
      hueRows.push(hueAt >= 0);
    }
    return tf.tidy(() => {
      let x = blendSlots(images, before, factors);
      if (hueRows.some(Boolean)) {
        // A zero shift is not bit-exact through HSV, so rows without one keep their pixels by selection.
        const shifted = shiftHue(x, tf.tensor1d(params.hue));
        x = hueRows.every(Boolean) ? shifted : selectRows(hueRows, shifted, x);
      }
      x = blendSlots(x, after, factors);
      return x === images ? tf.clone(images) : x;
    });
  }
}

/**
 * Brightness, contrast and saturation are one operation, clamp(f·x + (1 − f)·target), with target 0,
 * the image's mean luma, or its luma (torchvision's _blend). Slot j applies each row's j-th such
 * adjustment to the whole batch at once, with f = 1 (exactly the identity) for rows that have none,
 * so a per-row random order costs no gathers or regrouping.
 */
function blendSlots(images: Tensor4D, sequences: JitterOp[][], factors: number[][]): Tensor4D {
  let x = images;
  const slots = sequences.reduce((most, s) => Math.max(most, s.length), 0);
  const n = sequences.length;
  for (let j = 0; j < slots; j++) {
    const f = new Array<number>(n).fill(1);
    const useMean = new Array<number>(n).fill(0);
    const useLuma = new Array<number>(n).fill(0);
    sequences.forEach((sequence, i) => {
      const op = sequence[j];
      if (op === undefined) return;
      f[i] = factors[op][i];
      if (op === 1) useMean[i] = 1;
      if (op === 2) useLuma[i] = 1;
    });
    const input = x;
    x = tf.tidy(() => {
      const column = (values: number[]) => tf.tensor4d(values, [n, 1, 1, 1]);
      let target: tf.Tensor = tf.zeros([n, 1, 1, 1]);
      if (useMean.some(Boolean) || useLuma.some(Boolean)) {
        const gray = luma(input);
        if (useMean.some(Boolean)) target = tf.mul(column(useMean), tf.reshape(tf.mean(tf.reshape(gray, [n, -1]), 1), [n, 1, 1, 1]));
        if (useLuma.some(Boolean)) target = tf.add(target, tf.mul(column(useLuma), gray));
      }
      const fx = tf.mul(column(f), input);
      const rest = tf.mul(column(f.map((v) => 1 - v)), target);
      return tf.clipByValue(tf.add(fx, rest), 0, 1) as Tensor4D;
    });
    if (input !== images) input.dispose();
  }
  return x;
}

export const colorJitterPlugin = definePlugin({
  kind: 'augment',
  name: NAME,
  package: '@genview/views',
  description: 'torchvision ColorJitter (brightness, contrast, saturation, hue) applied with probability p, random order per image.',
  configSchema: colorJitterSchema,
  create: (config, context) => new ColorJitter(config, context.path),
});
