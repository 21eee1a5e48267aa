import { type Dataset, GenviewError, Rng, definePlugin, z } from '@genview/core';
import { CaptionedDataset } from './captioned';
import { relabelDataset } from './colored-digits';
import { InMemoryDataset } from './in-memory';
import { type DrawnObject, SHAPE_COLORS, SHAPE_EXTENT, SHAPE_NAMES, TEXTURE_NAMES, drawObjects } from './shape-drawing';
import { DATASETS_PACKAGE, FORMER_DATASET_PACKAGES } from './package-name';

export const SIZE_NAMES = ['small', 'large'] as const;
/** Where the first-mentioned object is relative to the second: "a red circle left of a blue star". */
export const RELATION_NAMES = ['left of', 'right of', 'above', 'below'] as const;

/**
 * Columns of `attributes` ([N, 10] row-major int32), first-mentioned object first. -1 where a column
 * does not apply (relation and the second object's columns of one-object images). Ids index
 * SHAPE_NAMES, SHAPE_COLORS, SIZE_NAMES, TEXTURE_NAMES and RELATION_NAMES; objects is 0 (one) or 1 (two).
 * The values are the drawn truth, also where a caption leaves a word out.
 */
export const SHAPE_ATTRIBUTE_COLUMNS = ['shape', 'color', 'size', 'texture', 'objects', 'relation', 'shape2', 'color2', 'size2', 'texture2'] as const;
export type ShapeAttributeColumn = (typeof SHAPE_ATTRIBUTE_COLUMNS)[number];

/** Radius (fraction of the image side) of small and large objects, before a ±5 % jitter. */
const SIZE_RADII = [0.11, 0.18] as const;
const PAD = 0.02;
const MAX_ROTATION = (15 * Math.PI) / 180;
/** Perpendicular offset between two related objects stays far below their separation, so one relation is plainly true. */
const PERPENDICULAR_JITTER = 0.05;

/** One object of a scene; positions and radius are fractions of the image side. */
export interface ShapeObjectSpec {
  shape: number;
  color: number;
  size: number;
  texture: number;
  cx: number;
  cy: number;
  radius: number;
  rotation: number;
}

/** Everything an image and its caption are made from; `objects[0]` is the first-mentioned object. */
export interface ShapeSceneSpec {
  objects: ShapeObjectSpec[];
  /** Index into RELATION_NAMES (objects[0] relative to objects[1]); -1 with one object. */
  relation: number;
  /** Grey level of the background. */
  background: number;
  caption: string;
}

export interface CaptionedShapesOptions {
  count: number;
  /** Image side in pixels (default 32). */
  size?: number;
  seed?: number;
  /** Chance that an image holds two related objects instead of one (default 0.5). */
  twoObjectProbability?: number;
  /** Chance that each size or texture word is left out of a caption, for captions of varied detail (default 0). */
  omitProbability?: number;
  /** Supersamples per pixel side for anti-aliasing (default 4). */
  antialias?: number;
  name?: string;
}

function sampleObject(rng: Rng): Omit<ShapeObjectSpec, 'cx' | 'cy'> {
  const size = rng.int(SIZE_NAMES.length);
  return {
    shape: rng.int(SHAPE_NAMES.length),
    color: rng.int(SHAPE_COLORS.length),
    size,
    texture: rng.int(TEXTURE_NAMES.length),
    radius: (SIZE_RADII[size] as number) * rng.uniform(0.95, 1.05),
    rotation: rng.uniform(-MAX_ROTATION, MAX_ROTATION),
  };
}

/** Places two objects so that `relation` holds along one axis with a clear gap and little offset across it. */
function placePair(a: Omit<ShapeObjectSpec, 'cx' | 'cy'>, b: Omit<ShapeObjectSpec, 'cx' | 'cy'>, relation: number, rng: Rng): [ShapeObjectSpec, ShapeObjectSpec] {
  const ra = a.radius * SHAPE_EXTENT;
  const rb = b.radius * SHAPE_EXTENT;
  // "left of" and "above" put the first-mentioned object at the lower coordinate.
  const aFirst = relation === 0 || relation === 2;
  const [rLow, rHigh] = aFirst ? [ra, rb] : [rb, ra];
  const slack = 1 - 2 * PAD - 2 * ra - 2 * rb;
  const gap = 0.02 + rng.float() * Math.max(0, slack - 0.02) * 0.5;
  const low = PAD + rLow + Math.max(0, slack - gap) * rng.float();
  const high = low + rLow + rHigh + gap;
  const reach = Math.max(ra, rb);
  const centre = rng.uniform(PAD + reach, 1 - PAD - reach);
  const across = (r: number) => Math.min(1 - PAD - r, Math.max(PAD + r, centre + rng.uniform(-PERPENDICULAR_JITTER, PERPENDICULAR_JITTER)));
  const [alongA, alongB] = aFirst ? [low, high] : [high, low];
  const [acrossA, acrossB] = [across(ra), across(rb)];
  const horizontal = relation < 2;
  return [
    { ...a, cx: horizontal ? alongA : acrossA, cy: horizontal ? acrossA : alongA },
    { ...b, cx: horizontal ? alongB : acrossB, cy: horizontal ? acrossB : alongB },
  ];
}

function phrase(object: ShapeObjectSpec, omit: () => boolean): string {
  const words: string[] = [];
  if (!omit()) words.push(SIZE_NAMES[object.size] as string);
  // Solid is the unmarked appearance: captions only name a pattern.
  if (object.texture !== 0 && !omit()) words.push(TEXTURE_NAMES[object.texture] as string);
  words.push((SHAPE_COLORS[object.color] as { name: string }).name, SHAPE_NAMES[object.shape] as string);
  return `${/^[aeiou]/.test(words[0] as string) ? 'an' : 'a'} ${words.join(' ')}`;
}

/**
 * The scene of image `index`: a function of (seed, index) alone, so a sample never changes with the
 * dataset size. Images and captions draw from separate streams, so changing how often words are
 * omitted changes no pixel.
 */
export function sampleShapeScene(seed: number, index: number, options: Pick<CaptionedShapesOptions, 'twoObjectProbability' | 'omitProbability'> = {}): ShapeSceneSpec {
  const rng = new Rng(seed).fork(`captioned-shapes:${index}`);
  const two = rng.bernoulli(options.twoObjectProbability ?? 0.5);
  const first = sampleObject(rng);
  let objects: ShapeObjectSpec[];
  let relation = -1;
  if (two) {
    const second = sampleObject(rng);
    relation = rng.int(RELATION_NAMES.length);
    objects = placePair(first, second, relation, rng);
  } else {
    const reach = first.radius * SHAPE_EXTENT;
    objects = [{ ...first, cx: rng.uniform(PAD + reach, 1 - PAD - reach), cy: rng.uniform(PAD + reach, 1 - PAD - reach) }];
  }
  const background = rng.uniform(0, 0.15);
  const words = rng.fork('caption');
  const omitProbability = options.omitProbability ?? 0;
  const omit = () => omitProbability > 0 && words.bernoulli(omitProbability);
  const phrases = objects.map((o) => phrase(o, omit));
  const caption = relation < 0 ? (phrases[0] as string) : `${phrases[0]} ${RELATION_NAMES[relation]} ${phrases[1]}`;
  return { objects, relation, background, caption };
}

/** Draws a scene as RGB into `out` at `offset` (size × size × 3, values in [0, 1]). */
export function renderShapeScene(scene: ShapeSceneSpec, size: number, antialias: number, out: Float32Array, offset = 0): void {
  const drawn: DrawnObject[] = scene.objects.map((o) => ({
    shape: SHAPE_NAMES[o.shape] as DrawnObject['shape'],
    rgb: (SHAPE_COLORS[o.color] as { rgb: readonly [number, number, number] }).rgb,
    texture: TEXTURE_NAMES[o.texture] as DrawnObject['texture'],
    cx: o.cx * size,
    cy: o.cy * size,
    radius: o.radius * size,
    rotation: o.rotation,
  }));
  drawObjects(drawn, size, scene.background, antialias, out, offset);
}

/** Class names of each attribute column that can serve as a label. */
const LABEL_NAMES: Record<'shape' | 'color' | 'size' | 'texture' | 'objects', readonly string[]> = {
  shape: SHAPE_NAMES,
  color: SHAPE_COLORS.map((c) => c.name),
  size: SIZE_NAMES,
  texture: TEXTURE_NAMES,
  objects: ['one object', 'two objects'],
};
export type ShapeLabel = keyof typeof LABEL_NAMES;

/** Captioned shapes with their drawn attributes, for weak-attribute priors and per-attribute evaluation. */
export class CaptionedShapesDataset extends CaptionedDataset {
  /** [N, SHAPE_ATTRIBUTE_COLUMNS.length] row-major; see SHAPE_ATTRIBUTE_COLUMNS. */
  readonly attributes: Int32Array;
  readonly attributeColumns: readonly ShapeAttributeColumn[] = SHAPE_ATTRIBUTE_COLUMNS;
  readonly scenes: readonly ShapeSceneSpec[];

  constructor(inner: Dataset, scenes: ShapeSceneSpec[]) {
    super(
      inner,
      scenes.map((s) => s.caption),
    );
    this.scenes = scenes;
    const k = SHAPE_ATTRIBUTE_COLUMNS.length;
    this.attributes = new Int32Array(scenes.length * k).fill(-1);
    scenes.forEach((scene, i) => {
      const [a, b] = scene.objects as [ShapeObjectSpec, ShapeObjectSpec | undefined];
      this.attributes.set([a.shape, a.color, a.size, a.texture, scene.objects.length - 1, scene.relation], i * k);
      if (b) this.attributes.set([b.shape, b.color, b.size, b.texture], i * k + 6);
    });
  }

  /** One column of `attributes`, in index order. */
  column(name: ShapeAttributeColumn): Int32Array {
    const c = SHAPE_ATTRIBUTE_COLUMNS.indexOf(name);
    if (c < 0) {
      throw new GenviewError('BAD_INPUT', `there is no attribute column "${name}".`, { where: `${this.info.name}.attributes`, fix: `use one of: ${SHAPE_ATTRIBUTE_COLUMNS.join(', ')}.` });
    }
    const k = SHAPE_ATTRIBUTE_COLUMNS.length;
    return Int32Array.from({ length: this.info.size }, (_, i) => this.attributes[i * k + c] as number);
  }

  /** The same images and captions labelled by another attribute of the first-mentioned object (or the object count). */
  labelledBy(attribute: ShapeLabel): Dataset {
    const names = LABEL_NAMES[attribute];
    if (!names) {
      throw new GenviewError('BAD_INPUT', `"${attribute}" cannot be a label.`, { where: `${this.info.name}.labelBy`, fix: `use one of: ${Object.keys(LABEL_NAMES).join(', ')}.` });
    }
    if (attribute === 'shape') return this;
    const name = `${this.info.name}:${attribute}`;
    return new CaptionedDataset(relabelDataset(this, this.column(attribute), [...names], name), this.captions);
  }
}

function checkOptions(options: CaptionedShapesOptions, name: string): void {
  const { count, size = 32, twoObjectProbability = 0.5, omitProbability = 0, antialias = 4 } = options;
  const checks: [string, boolean, string][] = [
    ['count', Number.isInteger(count) && count >= 1, `a positive integer, got ${count}`],
    ['size', Number.isInteger(size) && size >= 16, `an integer ≥ 16 (smaller objects lose their shape), got ${size}`],
    ['twoObjectProbability', twoObjectProbability >= 0 && twoObjectProbability <= 1, `in [0, 1], got ${twoObjectProbability}`],
    ['omitProbability', omitProbability >= 0 && omitProbability <= 1, `in [0, 1], got ${omitProbability}`],
    ['antialias', Number.isInteger(antialias) && antialias >= 1 && antialias <= 8, `an integer in [1, 8], got ${antialias}`],
  ];
  for (const [field, ok, expected] of checks) {
    if (!ok) throw new GenviewError('INVALID_CONFIG', `${field} must be ${expected}.`, { where: `${name}.${field}`, fix: `set ${field} as stated, or leave it out for the default.` });
  }
}

/**
 * Shapes with compositional captions ("a small red circle left of a large blue square"), drawn by code
 * so that text-conditioned views and image-text training have captions that are exactly true of their
 * images, offline. labels = shape of the first-mentioned object; every attribute is kept per image.
 */
export function captionedShapes(options: CaptionedShapesOptions): CaptionedShapesDataset {
  const name = options.name ?? 'captioned-shapes';
  checkOptions(options, name);
  const { count, size = 32, seed = 0, antialias = 4 } = options;
  const scenes = Array.from({ length: count }, (_, i) => sampleShapeScene(seed, i, options));
  const pixels = new Uint8Array(count * size * size * 3);
  const scratch = new Float32Array(size * size * 3);
  scenes.forEach((scene, i) => {
    renderShapeScene(scene, size, antialias, scratch);
    const at = i * scratch.length;
    for (let j = 0; j < scratch.length; j++) pixels[at + j] = Math.round((scratch[j] as number) * 255);
  });
  const labels = Int32Array.from(scenes, (s) => (s.objects[0] as ShapeObjectSpec).shape);
  const images = new InMemoryDataset(pixels, [count, size, size, 3], { name, labels, classNames: [...SHAPE_NAMES] });
  return new CaptionedShapesDataset(images, scenes);
}

export const captionedShapesSchema = z
  .object({
    split: z.enum(['train', 'test']).default('train').describe('train and test are drawn from different seeds'),
    count: z.number().int().positive().optional().describe('images (default 10,000 train, 2,000 test)'),
    size: z.number().int().min(16).max(512).default(32).describe('image side in pixels'),
    seed: z.number().int().default(0),
    twoObjectProbability: z.number().min(0).max(1).default(0.5).describe('chance of two related objects instead of one'),
    omitProbability: z.number().min(0).max(1).default(0).describe('chance that each size or texture word is left out of a caption'),
    antialias: z.number().int().min(1).max(8).default(4).describe('supersamples per pixel side'),
    labelBy: z.enum(['shape', 'color', 'size', 'texture', 'objects']).default('shape').describe('attribute of the first-mentioned object that evaluators see as the label'),
  })
  .strict();

export const captionedShapesPlugin = definePlugin({
  kind: 'dataset',
  name: 'captioned-shapes',
  package: DATASETS_PACKAGE,
  formerPackages: FORMER_DATASET_PACKAGES,
  description: 'Shapes with colour, size, texture and spatial relations, and compositional captions that are exactly true of each image (offline, made by code).',
  configSchema: captionedShapesSchema,
  create(config) {
    const dataset = captionedShapes({
      count: config.count ?? (config.split === 'train' ? 10_000 : 2_000),
      size: config.size,
      // Different streams of one seed, so a test scene is never a train scene.
      seed: config.split === 'train' ? config.seed * 2 : config.seed * 2 + 1,
      twoObjectProbability: config.twoObjectProbability,
      omitProbability: config.omitProbability,
      antialias: config.antialias,
      name: `captioned-shapes/${config.split}`,
    });
    return dataset.labelledBy(config.labelBy);
  },
});
