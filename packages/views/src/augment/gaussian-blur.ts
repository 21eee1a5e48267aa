import { type Augmentation, GenviewError, type ImageShape, type Rng, type Tensor4D, definePlugin, tf, z } from '@genview/core';
import { checkBatchSize, checkImageShape, checkImages, checkParamsFit, parseOptions, probabilityOption } from './common';

const NAME = 'gaussian-blur';

export const gaussianBlurSchema = z
  .object({
    p: probabilityOption(0.5),
    sigma: z.tuple([z.number().positive(), z.number().positive()]).default([0.1, 2]).describe('per-image sigma, uniform in [min, max] pixels'),
    kernelSize: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('odd kernel width in pixels; default: about 10% of the smaller image side (odd, at least 3)'),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.sigma[0] > value.sigma[1]) {
      ctx.addIssue({ code: 'custom', path: ['sigma'], message: `sigma must be [min, max] with min <= max, got [${value.sigma.join(', ')}]` });
    }
    if (value.kernelSize !== undefined && value.kernelSize % 2 === 0) {
      ctx.addIssue({ code: 'custom', path: ['kernelSize'], message: `kernelSize must be odd, got ${value.kernelSize}` });
    }
  });

export type GaussianBlurOptions = z.input<typeof gaussianBlurSchema>;

export interface GaussianBlurParams {
  kernelSize: number;
  applied: boolean[];
  /** Per row; the drawn sigma is kept for rows not blurred too, for logging. */
  sigma: number[];
}

/** SimCLR's choice, 10% of the image side, made odd so the kernel has a centre tap. */
export function defaultKernelSize(height: number, width: number): number {
  const k = Math.max(3, Math.round(0.1 * Math.min(height, width)));
  return k % 2 === 1 ? k : k + 1;
}

/** torchvision's 1-D Gaussian: taps at linspace(-r, r, k), normalised to sum 1. */
export function gaussianKernel1d(kernelSize: number, sigma: number): Float32Array {
  const r = (kernelSize - 1) / 2;
  const out = new Float32Array(kernelSize);
  let sum = 0;
  for (let t = 0; t < kernelSize; t++) {
    const x = t - r;
    out[t] = Math.exp(-0.5 * (x / sigma) ** 2);
    sum += out[t];
  }
  for (let t = 0; t < kernelSize; t++) out[t] /= sum;
  return out;
}

/**
 * Separable Gaussian blur with a sigma per image and reflect padding (torchvision GaussianBlur).
 * The batch is laid out as the channels of one image ([1, H, W, N·C]) so a single depthwise conv per
 * axis applies every row's own kernel; rows not blurred get a unit impulse, which leaves them exact.
 * (A per-row kernel-matrix matmul does the same in O(H²) per column; the depthwise conv is O(k).)
 */
export class GaussianBlur implements Augmentation<GaussianBlurParams> {
  readonly name = NAME;
  readonly options: z.output<typeof gaussianBlurSchema>;

  constructor(options: GaussianBlurOptions = {}, where = NAME) {
    this.options = parseOptions(gaussianBlurSchema, options, where);
  }

  sampleParams(rng: Rng, batchSize: number, imageShape: ImageShape): GaussianBlurParams {
    checkBatchSize(batchSize, NAME);
    checkImageShape(imageShape, NAME);
    const kernelSize = this.options.kernelSize ?? defaultKernelSize(imageShape[0], imageShape[1]);
    const applied: boolean[] = [];
    const sigma: number[] = [];
    for (let i = 0; i < batchSize; i++) {
      applied.push(rng.float() < this.options.p);
      sigma.push(rng.uniform(this.options.sigma[0], this.options.sigma[1]));
    }
    return { kernelSize, applied, sigma };
  }

  apply(images: Tensor4D, params: GaussianBlurParams): Tensor4D {
    const [h, w, c] = checkImages(images, NAME);
    const n = params.applied.length;
    checkParamsFit(images, n, NAME);
    const k = params.kernelSize;
    const r = (k - 1) / 2;
    if (r >= h || r >= w) {
      throw new GenviewError('BAD_INPUT', `kernelSize ${k} is too large for ${h}x${w} images (reflect padding needs (kernelSize - 1) / 2 < each side).`, {
        where: `${NAME}.kernelSize`,
        fix: `use kernelSize <= ${2 * Math.min(h, w) - 1}, or leave it unset to scale with the image.`,
      });
    }
    if (params.applied.every((a) => !a) || k === 1) return tf.tidy(() => tf.clone(images));
    // Channel j = row·C + c of the stacked image takes row's kernel.
    const taps = new Float32Array(k * n * c);
    for (let row = 0; row < n; row++) {
      const kernel = params.applied[row] ? gaussianKernel1d(k, params.sigma[row]) : impulse(k);
      for (let t = 0; t < k; t++) for (let ch = 0; ch < c; ch++) taps[t * n * c + row * c + ch] = kernel[t];
    }
    return tf.tidy(() => {
      const stacked = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, h, w, n * c]) as Tensor4D;
      const padded = tf.mirrorPad(stacked, [[0, 0], [r, r], [r, r], [0, 0]], 'reflect');
      const vertical = tf.depthwiseConv2d(padded, tf.tensor4d(taps, [k, 1, n * c, 1]), 1, 'valid');
      const both = tf.depthwiseConv2d(vertical, tf.tensor4d(taps, [1, k, n * c, 1]), 1, 'valid');
      return tf.transpose(tf.reshape(both, [h, w, n, c]), [2, 0, 1, 3]) as Tensor4D;
    });
  }
}

function impulse(k: number): Float32Array {
  const out = new Float32Array(k);
  out[(k - 1) / 2] = 1;
  return out;
}

export const gaussianBlurPlugin = definePlugin({
  kind: 'augment',
  name: NAME,
  package: '@genview/views',
  description: 'Gaussian blur with per-image sigma (uniform in sigma), reflect padding, applied with probability p.',
  configSchema: gaussianBlurSchema,
  create: (config, context) => new GaussianBlur(config, context.path),
});
