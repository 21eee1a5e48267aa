import { type Augmentation, type ImageShape, type Rng, type Tensor4D, definePlugin, tf, z } from '@genview/core';
import { LUMA_WEIGHTS, checkBatchSize, checkImageShape, checkImages, checkParamsFit, parseOptions, probabilityOption, sampleFlags, selectRows } from './common';

const NAME = 'random-grayscale';

export const randomGrayscaleSchema = z.object({ p: probabilityOption(0.2) }).strict();
export type RandomGrayscaleOptions = z.input<typeof randomGrayscaleSchema>;

export interface RandomGrayscaleParams {
  gray: boolean[];
}

/** Luma of RGB images, [N, H, W, 1]; a 1-channel image is its own luma. */
export function luma(images: Tensor4D): Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = images.shape;
    if (c === 1) return tf.clone(images);
    // A [pixels, 3] x [3, 1] matmul: one fast kernel instead of a broadcast multiply and a reduction.
    const flat = tf.reshape(images, [n * h * w, 3]) as tf.Tensor2D;
    return tf.reshape(tf.matMul(flat, tf.tensor2d([...LUMA_WEIGHTS], [3, 1])), [n, h, w, 1]) as Tensor4D;
  });
}

/**
 * Replaces each image by its ITU-R 601 luma with probability p, repeated over the channels so the
 * channel count is kept (torchvision RandomGrayscale). 1-channel images are unchanged.
 */
export class RandomGrayscale implements Augmentation<RandomGrayscaleParams> {
  readonly name = NAME;
  readonly options: z.output<typeof randomGrayscaleSchema>;

  constructor(options: RandomGrayscaleOptions = {}, where = NAME) {
    this.options = parseOptions(randomGrayscaleSchema, options, where);
  }

  sampleParams(rng: Rng, batchSize: number, imageShape: ImageShape): RandomGrayscaleParams {
    checkBatchSize(batchSize, NAME);
    checkImageShape(imageShape, NAME);
    return { gray: sampleFlags(rng, batchSize, this.options.p) };
  }

  apply(images: Tensor4D, params: RandomGrayscaleParams): Tensor4D {
    const [, , c] = checkImages(images, NAME);
    checkParamsFit(images, params.gray.length, NAME);
    return tf.tidy(() => {
      if (c === 1 || params.gray.every((g) => !g)) return tf.clone(images);
      // The 1-channel luma broadcasts over the C channels in the select (tile is slow on wasm).
      return selectRows(params.gray, luma(images), images);
    });
  }
}

export const randomGrayscalePlugin = definePlugin({
  kind: 'augment',
  name: NAME,
  package: '@genview/views',
  description: 'Converts each image to grayscale (ITU-R 601 luma, channel count kept) with probability p.',
  configSchema: randomGrayscaleSchema,
  create: (config, context) => new RandomGrayscale(config, context.path),
});
