import { type Augmentation, type ImageShape, type Rng, type Tensor4D, definePlugin, tf, z } from '@genview/core';
import { checkBatchSize, checkImageShape, checkImages, checkParamsFit, parseOptions, probabilityOption, sampleFlags, selectRows } from './common';

const NAME = 'solarize';

export const solarizeSchema = z
  .object({
    p: probabilityOption(0),
    threshold: z.number().min(0).max(1).default(0.5).describe('pixels at or above it are inverted (1 - x)'),
  })
  .strict();
export type SolarizeOptions = z.input<typeof solarizeSchema>;

export interface SolarizeParams {
  solarize: boolean[];
}

/** Inverts pixels >= threshold with probability p per image (torchvision RandomSolarize, as in BYOL). */
export class Solarize implements Augmentation<SolarizeParams> {
  readonly name = NAME;
  readonly options: z.output<typeof solarizeSchema>;

  constructor(options: SolarizeOptions = {}, where = NAME) {
    this.options = parseOptions(solarizeSchema, options, where);
  }

  sampleParams(rng: Rng, batchSize: number, imageShape: ImageShape): SolarizeParams {
    checkBatchSize(batchSize, NAME);
    checkImageShape(imageShape, NAME);
    return { solarize: sampleFlags(rng, batchSize, this.options.p) };
  }

  apply(images: Tensor4D, params: SolarizeParams): Tensor4D {
    checkImages(images, NAME);
    checkParamsFit(images, params.solarize.length, NAME);
    return tf.tidy(() => {
      if (params.solarize.every((s) => !s)) return tf.clone(images);
      const inverted = tf.where(tf.greaterEqual(images, this.options.threshold), tf.sub(1, images), images) as Tensor4D;
      if (params.solarize.every((s) => s)) return inverted;
      return selectRows(params.solarize, inverted, images);
    });
  }
}

export const solarizePlugin = definePlugin({
  kind: 'augment',
  name: NAME,
  package: '@genview/views',
  description: 'Inverts pixels at or above threshold with probability p per image.',
  configSchema: solarizeSchema,
  create: (config, context) => new Solarize(config, context.path),
});
