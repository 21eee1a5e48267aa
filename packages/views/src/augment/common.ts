import { GenviewError, type ImageShape, type Tensor4D, formatConfigIssues, tf, z } from '@genview/core';

/** Either one number for a square output or [height, width]; positive integers. */
export type SizeOption = number | [number, number];

export function toHW(size: SizeOption): [number, number] {
  return typeof size === 'number' ? [size, size] : [size[0], size[1]];
}

/**
 * Parses options with a plugin's schema outside the registry (direct construction), so users of the
 * parts-first API get the same defaults and the same INVALID_CONFIG messages as config files do.
 */
export function parseOptions<S extends z.ZodType>(schema: S, options: unknown, where: string): z.output<S> {
  const parsed = schema.safeParse(options ?? {});
  if (!parsed.success) {
    throw new GenviewError('INVALID_CONFIG', `invalid options:\n  ${formatConfigIssues(where, parsed.error.issues).join('\n  ')}`, {
      where,
      fix: 'see the option list and defaults in the @genview/views README or `genview plugins`.',
    });
  }
  return parsed.data;
}

/**
 * Every augmentation takes NHWC float images with 1 or 3 channels; anything else is a caller's
 * mistake that tf would report as an obscure kernel error much later, so it is caught here.
 */
export function checkImages(images: Tensor4D, where: string): ImageShape {
  const shape = images.shape as number[];
  if (shape.length !== 4) {
    throw new GenviewError('BAD_SHAPE', `images must have rank 4 [N, H, W, C], got shape [${shape.join(', ')}].`, {
      where,
      fix: 'batch single images with tf.expandDims(image, 0) or pass a [N, H, W, C] tensor.',
    });
  }
  const c = shape[3];
  if (c !== 1 && c !== 3) {
    throw new GenviewError('BAD_SHAPE', `images must have 1 or 3 channels (last dim of [N, H, W, C]), got ${c} in shape [${shape.join(', ')}].`, {
      where,
      fix: 'drop alpha channels and pass grayscale (C=1) or RGB (C=3) images in NHWC layout.',
    });
  }
  return [shape[1], shape[2], c];
}

export function checkImageShape(imageShape: ImageShape, where: string): void {
  const ok = Array.isArray(imageShape) && imageShape.length === 3 && imageShape.every((d) => Number.isInteger(d) && d > 0);
  if (!ok) {
    throw new GenviewError('BAD_SHAPE', `imageShape must be [height, width, channels] of positive integers, got ${JSON.stringify(imageShape)}.`, {
      where,
    });
  }
  if (imageShape[2] !== 1 && imageShape[2] !== 3) {
    throw new GenviewError('BAD_SHAPE', `imageShape channels must be 1 or 3, got ${imageShape[2]}.`, { where });
  }
}

export function checkBatchSize(batchSize: number, where: string): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new GenviewError('BAD_INPUT', `batchSize must be a positive integer, got ${batchSize}.`, { where });
  }
}

/** Params are sampled for one batch; applying them to another batch size would silently misalign rows. */
export function checkParamsFit(images: Tensor4D, count: number, where: string): void {
  if (images.shape[0] !== count) {
    throw new GenviewError('BAD_INPUT', `params were sampled for ${count} images but the batch has ${images.shape[0]}.`, {
      where,
      fix: 'call sampleParams(rng, batchSize, imageShape) with the batch size of the images you apply them to.',
    });
  }
}

/** Per-sample Bernoulli flags: drawn one per row, in row order, so a seed fixes every row's outcome. */
export function sampleFlags(rng: { float(): number }, batchSize: number, p: number): boolean[] {
  const out: boolean[] = new Array(batchSize);
  for (let i = 0; i < batchSize; i++) out[i] = rng.float() < p;
  return out;
}

/** A probability option in [0, 1] with its default, shared by every "applied with probability p" plugin. */
export function probabilityOption(defaultValue: number) {
  return z.number().min(0).max(1).default(defaultValue).describe('probability of applying it to each image');
}

/** A positive image size: one number (square) or [height, width]. */
export const sizeOption = z.union([z.number().int().positive(), z.tuple([z.number().int().positive(), z.number().int().positive()])]);

/** ITU-R BT.601 luma weights (as PIL's "L" conversion); torchvision uses 0.2989 for red. */
export const LUMA_WEIGHTS: readonly [number, number, number] = [0.299, 0.587, 0.114];

/**
 * Row selection `flags[i] ? yes[i] : no[i]` as yes·m + no·(1 − m) with m ∈ {0, 1} per row. Exact for
 * finite inputs (x·1 + y·0 = x), and much faster than tf.where on the wasm backend, whose broadcast
 * of a [N, 1, 1, 1] condition goes through a slow tile. `yes` may have 1 channel where `no` has C
 * (it broadcasts).
 */
export function selectRows(flags: readonly boolean[], yes: Tensor4D, no: Tensor4D): Tensor4D {
  return tf.tidy(() => {
    const n = flags.length;
    const m = tf.tensor4d(
      flags.map((f) => (f ? 1 : 0)),
      [n, 1, 1, 1],
    );
    const inv = tf.tensor4d(
      flags.map((f) => (f ? 0 : 1)),
      [n, 1, 1, 1],
    );
    return tf.add(tf.mul(yes, m), tf.mul(no, inv)) as Tensor4D;
  });
}
