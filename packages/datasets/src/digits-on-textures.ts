import { type Dataset, GenviewError, Rng, definePlugin, tf, z } from '@genview/core';
import { AttributedDataset, DIGIT_NAMES } from './colored-digits';
import { drawDigit, samplePose } from './digit-glyphs';
import { DATASETS_PACKAGE, FORMER_DATASET_PACKAGES } from './package-name';

export interface DigitsOnTexturesOptions {
  count: number;
  /** Greyscale texture images, row-major [textureCount, size, size] in [0, 1] (already at the output size). */
  textures: Float32Array;
  textureLabels: Int32Array;
  textureClassNames: string[];
  size: number;
  seed?: number;
  /** Texture brightness under the digit; the digit stroke is drawn at full brightness in red. */
  textureGain?: number;
  name?: string;
}

/**
 * A two-feature composite: a drawn digit over an independently drawn texture image (e.g. a Fashion-MNIST
 * item). Both are visible and independent; contrastive learning tends to keep the easier one.
 * RGB: the texture is grey, the digit red, so neither hides the other. labels = digit;
 * attributes = { digit, texture }.
 */
export function digitsOnTextures(options: DigitsOnTexturesOptions): AttributedDataset {
  const { count, textures, textureLabels, textureClassNames, size, seed = 0, textureGain = 0.7 } = options;
  const name = options.name ?? 'digits-on-textures';
  const textureCount = textureLabels.length;
  if (textureCount === 0 || textures.length !== textureCount * size * size) {
    throw new GenviewError('BAD_SHAPE', `textures has ${textures.length} values for ${textureCount} labels at ${size}x${size}.`, {
      where: `${name}.textures`,
      fix: 'pass [count, size, size] greyscale textures resized to the output size.',
    });
  }
  const rng = new Rng(seed);
  const pixels = new Float32Array(count * size * size * 3);
  const digit = new Int32Array(count);
  const texture = new Int32Array(count);
  const stroke = new Float32Array(size * size);
  for (let i = 0; i < count; i++) {
    digit[i] = rng.int(10);
    const t = rng.int(textureCount);
    texture[i] = textureLabels[t];
    drawDigit(digit[i], samplePose(rng), size, stroke);
    const base = i * size * size * 3;
    for (let p = 0; p < size * size; p++) {
      const a = stroke[p];
      const g = textureGain * textures[t * size * size + p] * (1 - a);
      pixels[base + p * 3] = g + a;
      pixels[base + p * 3 + 1] = g;
      pixels[base + p * 3 + 2] = g;
    }
  }
  return new AttributedDataset(
    pixels,
    [count, size, size, 3],
    { name, labels: digit, classNames: DIGIT_NAMES },
    { digit, texture },
    { digit: DIGIT_NAMES, texture: textureClassNames },
  );
}

/** Reads a whole greyscale dataset and resizes it to size × size: [count, size, size] in [0, 1]. */
export async function greyTextures(dataset: Dataset, size: number, limit?: number): Promise<{ textures: Float32Array; labels: Int32Array }> {
  const count = Math.min(dataset.info.size, limit ?? dataset.info.size);
  const textures = new Float32Array(count * size * size);
  const labels = new Int32Array(count);
  const step = 1024;
  for (let start = 0; start < count; start += step) {
    const indices = Int32Array.from({ length: Math.min(step, count - start) }, (_, i) => start + i);
    const batch = await dataset.read(indices);
    const resized = tf.tidy(() => {
      const grey = batch.images.shape[3] === 1 ? batch.images : tf.mean(batch.images, 3, true);
      return batch.images.shape[1] === size && batch.images.shape[2] === size ? tf.clone(grey) : tf.image.resizeBilinear(grey as tf.Tensor4D, [size, size], true);
    });
    batch.images.dispose();
    textures.set(await resized.data(), start * size * size);
    resized.dispose();
    const batchLabels = batch.labels ?? dataset.labels?.subarray(start, start + indices.length);
    if (!batchLabels) throw new GenviewError('BAD_INPUT', `texture dataset "${dataset.info.name}" has no labels.`, { where: 'digits-on-fashion', fix: 'use a labelled dataset.' });
    labels.set(batchLabels, start);
  }
  return { textures, labels };
}

export const digitsOnFashionSchema = z
  .object({
    split: z.enum(['train', 'test']).default('train'),
    count: z.number().int().positive().optional().describe('images (default 10,000 train, 2,000 test)'),
    size: z.number().int().min(8).default(28),
    seed: z.number().int().default(0),
    textureGain: z.number().min(0).max(1).default(0.7),
    fashionDir: z.string().min(1).optional().describe('Fashion-MNIST IDX folder; default: @genview/data-fashion-mnist'),
    labelBy: z.enum(['digit', 'texture']).default('digit'),
  })
  .strict();

export const digitsOnFashionPlugin = definePlugin({
  kind: 'dataset',
  name: 'digits-on-fashion',
  package: DATASETS_PACKAGE,
  formerPackages: FORMER_DATASET_PACKAGES,
  description: 'Two independent features: a drawn digit (red) over a Fashion-MNIST item (grey); attributes digit and texture.',
  configSchema: digitsOnFashionSchema,
  async create(config, context) {
    const count = config.count ?? (config.split === 'train' ? 10_000 : 2_000);
    const fashion = await context.registry.create(
      'dataset',
      { name: 'fashion-mnist', split: config.split, ...(config.fashionDir ? { dir: config.fashionDir } : {}) },
      { rng: context.rng, events: context.events, path: `${context.path}.fashionDir` },
    );
    const { textures, labels } = await greyTextures(fashion, config.size, Math.max(count, 1000));
    const dataset = digitsOnTextures({
      count,
      textures,
      textureLabels: labels,
      textureClassNames: fashion.info.classNames ?? Array.from({ length: Math.max(...labels) + 1 }, (_, l) => String(l)),
      size: config.size,
      seed: config.split === 'train' ? config.seed * 2 : config.seed * 2 + 1,
      textureGain: config.textureGain,
      name: `digits-on-fashion/${config.split}`,
    });
    return config.labelBy === 'digit' ? dataset : dataset.labelledBy(config.labelBy);
  },
});
