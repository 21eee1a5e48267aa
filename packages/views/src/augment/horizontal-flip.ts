import { type Augmentation, type ImageShape, type Rng, type Tensor4D, definePlugin, tf, z } from '@genview/core';
import { checkBatchSize, checkImageShape, checkImages, checkParamsFit, parseOptions, probabilityOption, sampleFlags, selectRows } from './common';

const NAME = 'horizontal-flip';

export const horizontalFlipSchema = z.object({ p: probabilityOption(0.5) }).strict();
export type HorizontalFlipOptions = z.input<typeof horizontalFlipSchema>;

export interface HorizontalFlipParams {
  /** Per row: mirrored left-right or not. */
  flip: boolean[];
}

/** Mirrors each image left-right with probability p (torchvision RandomHorizontalFlip), batched. */
export class HorizontalFlip implements Augmentation<HorizontalFlipParams> {
  readonly name = NAME;
  readonly options: z.output<typeof horizontalFlipSchema>;

  constructor(options: HorizontalFlipOptions = {}, where = NAME) {
    this.options = parseOptions(horizontalFlipSchema, options, where);
  }

  sampleParams(rng: Rng, batchSize: number, imageShape: ImageShape): HorizontalFlipParams {
    checkBatchSize(batchSize, NAME);
    checkImageShape(imageShape, NAME);
    return { flip: sampleFlags(rng, batchSize, this.options.p) };
  }

  apply(images: Tensor4D, params: HorizontalFlipParams): Tensor4D {
    checkImages(images, NAME);
    checkParamsFit(images, params.flip.length, NAME);
    return tf.tidy(() => {
      // Nothing to select when every row agrees: skip the mirrored copy (or the select) entirely.
      // flipLeftRight, not reverse(axis 2): the wasm backend has a dedicated kernel for it, ~10x faster.
      if (params.flip.every((f) => !f)) return tf.clone(images);
      if (params.flip.every((f) => f)) return tf.image.flipLeftRight(images);
      return selectRows(params.flip, tf.image.flipLeftRight(images), images);
    });
  }
}

export const horizontalFlipPlugin = definePlugin({
  kind: 'augment',
  name: NAME,
  package: '@genview/views',
  description: 'Mirrors each image left-right with probability p.',
  configSchema: horizontalFlipSchema,
  create: (config, context) => new HorizontalFlip(config, context.path),
});
