import { type Augmentation, GenviewError, type ImageShape, type Rng, type Tensor4D, definePlugin, tf, z } from '@genview/core';
import { type SizeOption, checkBatchSize, checkImageShape, checkImages, checkParamsFit, parseOptions, sizeOption, toHW } from './common';

const NAME = 'random-resized-crop';

export const randomResizedCropSchema = z
  .object({
    size: sizeOption.optional().describe('output [height, width] or one number for square; default: the input size'),
    scale: z.tuple([z.number().positive(), z.number().positive()]).default([0.08, 1]).describe('range of the crop area as a fraction of the image'),
    ratio: z
      .tuple([z.number().positive(), z.number().positive()])
      .default([3 / 4, 4 / 3])
      .describe('range of the crop aspect ratio (width / height), sampled log-uniformly'),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.scale[0] > value.scale[1]) {
      ctx.addIssue({ code: 'custom', path: ['scale'], message: `scale must be [min, max] with min <= max, got [${value.scale.join(', ')}]` });
    }
    if (value.ratio[0] > value.ratio[1]) {
      ctx.addIssue({ code: 'custom', path: ['ratio'], message: `ratio must be [min, max] with min <= max, got [${value.ratio.join(', ')}]` });
    }
  });

export type RandomResizedCropOptions = z.input<typeof randomResizedCropSchema>;

/** One crop in input pixels (torchvision's i, j, h, w). */
export interface CropRect {
  top: number;
  left: number;
  height: number;
  width: number;
}

export interface RandomResizedCropParams {
  /** Input [height, width] the crops were sampled for. */
  inputSize: [number, number];
  /** Output [height, width]. */
  size: [number, number];
  crops: CropRect[];
  /**
   * The boxes handed to tf.image.cropAndResize, [y1, x1, y2, x2]: the first and last sample centres,
   * normalised to the input padded by one edge pixel per side ((index + 1) / (size + 1)).
   */
  boxes: [number, number, number, number][];
}

/** Python's round(): half to even, so crop sizes match torchvision's for the same draws. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision RandomResizedCrop.get_params: 10 tries, then a centre crop clamped to the ratio range. */
export function sampleCropRect(rng: Rng, height: number, width: number, scale: [number, number], ratio: [number, number]): CropRect {
  const area = height * width;
  const logRatio: [number, number] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) {
    h = roundHalfEven(w / ratio[0]);
  } else if (inRatio > ratio[1]) {
    w = roundHalfEven(h * ratio[1]);
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/**
 * cropAndResize samples corner-aligned (box edge to box edge); torchvision resizes with half-pixel
 * centres (align_corners=False). Placing the box on the first and last half-pixel sample centres
 * makes the two agree, and a full-image crop at the input size is then exactly the identity.
 * When upsampling, those centres reach up to half a pixel outside the image, where cropAndResize
 * would return its extrapolation value while torch clamps to the edge pixel; apply() therefore pads
 * one edge-replicated pixel on every side, and the boxes are normalised to that padded image.
 */
function boxFor(crop: CropRect, inputSize: [number, number], size: [number, number]): [number, number, number, number] {
  const axis = (start: number, length: number, inLen: number, outLen: number): [number, number] => {
    const step = length / outLen;
    const first = start + 0.5 * step - 0.5;
    const last = start + length - 0.5 * step - 0.5;
    // Padded image: index + 1, and (inLen + 2) - 1 intervals.
    return [(first + 1) / (inLen + 1), (last + 1) / (inLen + 1)];
  };
  const [y1, y2] = axis(crop.top, crop.height, inputSize[0], size[0]);
  const [x1, x2] = axis(crop.left, crop.width, inputSize[1], size[1]);
  return [y1, x1, y2, x2];
}

/**
 * Crops a random area and aspect ratio of each image and resizes it (bilinear, no antialiasing), all
 * rows in one batched cropAndResize call. Matches torchvision's crop-then-resize (half-pixel centres)
 * exactly when shrinking and at the image border; when enlarging, samples within half an output pixel
 * of a crop edge inside the image blend with the pixel just beyond the crop instead of repeating the
 * crop's edge pixel (a sub-pixel difference).
 */
export class RandomResizedCrop implements Augmentation<RandomResizedCropParams> {
  readonly name = NAME;
  readonly options: z.output<typeof randomResizedCropSchema>;
  private readonly size?: [number, number];

  constructor(options: RandomResizedCropOptions = {}, where = NAME) {
    this.options = parseOptions(randomResizedCropSchema, options, where);
    this.size = this.options.size === undefined ? undefined : toHW(this.options.size as SizeOption);
  }

  outputShape(imageShape: ImageShape): ImageShape {
    return this.size ? [this.size[0], this.size[1], imageShape[2]] : [imageShape[0], imageShape[1], imageShape[2]];
  }

  sampleParams(rng: Rng, batchSize: number, imageShape: ImageShape): RandomResizedCropParams {
    checkBatchSize(batchSize, NAME);
    checkImageShape(imageShape, NAME);
    const inputSize: [number, number] = [imageShape[0], imageShape[1]];
    const size = this.size ?? inputSize;
    const crops: CropRect[] = [];
    for (let i = 0; i < batchSize; i++) {
      crops.push(sampleCropRect(rng, imageShape[0], imageShape[1], this.options.scale, this.options.ratio));
    }
    return { inputSize, size, crops, boxes: crops.map((c) => boxFor(c, inputSize, size)) };
  }

  apply(images: Tensor4D, params: RandomResizedCropParams): Tensor4D {
    const [h, w] = checkImages(images, NAME);
    checkParamsFit(images, params.boxes.length, NAME);
    if (h !== params.inputSize[0] || w !== params.inputSize[1]) {
      throw new GenviewError('BAD_INPUT', `params were sampled for ${params.inputSize.join('x')} images but got ${h}x${w}.`, {
        where: NAME,
        fix: 'sample params with the shape of the images you apply them to.',
      });
    }
    const n = params.boxes.length;
    return tf.tidy(() => {
      const boxes = tf.tensor2d(params.boxes.flat(), [n, 4], 'float32');
      const boxInd = tf.range(0, n, 1, 'int32') as tf.Tensor1D;
      // 'symmetric' with a pad of 1 repeats the edge pixel: torch's clamp-to-edge for samples outside.
      const padded = tf.mirrorPad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], 'symmetric');
      return tf.image.cropAndResize(padded, boxes, boxInd, params.size, 'bilinear');
    });
  }
}

export const randomResizedCropPlugin = definePlugin({
  kind: 'augment',
  name: NAME,
  package: '@genview/views',
  description: 'torchvision RandomResizedCrop: random area (scale) and aspect ratio (ratio) crop, resized bilinearly to size.',
  configSchema: randomResizedCropSchema,
  create: (config, context) => new RandomResizedCrop(config, context.path),
});
