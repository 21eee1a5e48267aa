import { type Augmentation, GenviewError, type ImageShape, type Rng, type Tensor4D, tf } from '@genview/core';
import { checkImageShape } from './common';

/** An augmentation that changes the image size (a crop) says so, so later steps sample for the right shape. */
interface ShapeChanging {
  outputShape(imageShape: ImageShape): ImageShape;
}

function hasOutputShape(aug: Augmentation): aug is Augmentation & ShapeChanging {
  return typeof (aug as Partial<ShapeChanging>).outputShape === 'function';
}

/** One entry per step, in order: the params each augmentation drew. */
export type PipelineParams = unknown[];

/**
 * A view recipe: augmentations applied in order. sampleParams draws every step's parameters up front
 * (one rng, steps in order, so a seed fixes the whole view) and returns them as a list; apply runs the
 * steps, disposing intermediate images. Steps that resize (random-resized-crop) expose outputShape so
 * later steps sample for the resized shape; other steps are assumed to keep the shape.
 */
export class ViewPipeline implements Augmentation<PipelineParams> {
  readonly steps: readonly Augmentation[];

  constructor(
    steps: readonly Augmentation[],
    readonly name = 'pipeline',
  ) {
    steps.forEach((step, i) => {
      if (!step || typeof step.sampleParams !== 'function' || typeof step.apply !== 'function') {
        throw new GenviewError('BAD_INPUT', `step ${i} is not an Augmentation (needs sampleParams and apply).`, {
          where: `${name}[${i}]`,
          fix: 'pass augmentation instances, e.g. new HorizontalFlip({ p: 0.5 }) or one made by a registry.',
        });
      }
    });
    this.steps = [...steps];
  }

  outputShape(imageShape: ImageShape): ImageShape {
    return this.steps.reduce<ImageShape>((shape, step) => (hasOutputShape(step) ? step.outputShape(shape) : shape), imageShape);
  }

  sampleParams(rng: Rng, batchSize: number, imageShape: ImageShape): PipelineParams {
    checkImageShape(imageShape, this.name);
    let shape = imageShape;
    const params: PipelineParams = [];
    for (const step of this.steps) {
      params.push(step.sampleParams(rng, batchSize, shape));
      if (hasOutputShape(step)) shape = step.outputShape(shape);
    }
    return params;
  }

  apply(images: Tensor4D, params: PipelineParams): Tensor4D {
    if (!Array.isArray(params) || params.length !== this.steps.length) {
      throw new GenviewError('BAD_INPUT', `expected params for ${this.steps.length} steps, got ${Array.isArray(params) ? params.length : typeof params}.`, {
        where: this.name,
        fix: 'pass the list that this pipeline’s sampleParams returned.',
      });
    }
    return tf.tidy(() => {
      let out = images;
      this.steps.forEach((step, i) => {
        out = step.apply(out, params[i]);
      });
      return out === images ? tf.clone(images) : out;
    });
  }
}

/** Composes augmentation instances (no registry needed) into one view pipeline. */
export function buildPipeline(steps: readonly Augmentation[], name?: string): ViewPipeline {
  return new ViewPipeline(steps, name);
}
