import { type Module, type ModuleVariable, type Rng, type Scalar, type Tensor, tf } from '@genview/core';

/**
 * A bias-free linear map into the joint image-text space, as CLIP's image and text projections.
 * Init N(0, inDim^-1/2), CLIP's scale for its projections, so the joint features start near unit norm.
 */
export function linearProjection(name: string, inDim: number, outDim: number, rng: Rng): Module {
  const weight = tf.tidy(() => tf.variable(tf.tensor2d(rng.normalArray(inDim * outDim, 0, inDim ** -0.5), [inDim, outDim]), true));
  return {
    name,
    variables: (): ModuleVariable[] => [{ name: 'weight', variable: weight, trainable: true, decay: true }],
    apply: (x: Tensor) => tf.matMul(x as tf.Tensor2D, weight as unknown as tf.Tensor2D),
    dispose: () => weight.dispose(),
  };
}

/**
 * CLIP's learnable inverse temperature, stored as its log (so it stays positive and the optimizer moves
 * it multiplicatively) in a checkpointed variable. Clamped to [1, maxScale] after every step as
 * OpenCLIP does; the forward pass clamps as well, so a loaded out-of-range value never leaks through.
 */
export class LogitScale implements Module {
  readonly name = 'logit_scale';
  private readonly log: tf.Variable;
  private readonly maxLog: number;

  constructor(initTemperature: number, maxScale: number) {
    this.maxLog = Math.log(maxScale);
    this.log = tf.tidy(() => tf.variable(tf.scalar(Math.min(Math.log(1 / initTemperature), this.maxLog)), true));
  }

  variables(): ModuleVariable[] {
    // No weight decay: it would pull the temperature towards 1, which is not a prior anyone wants.
    return [{ name: 'value', variable: this.log, trainable: true, decay: false }];
  }

  /** exp(clamped log scale): the factor on the cosine similarities. */
  scale(): Scalar {
    return tf.tidy(() => tf.exp(tf.clipByValue(this.log, 0, this.maxLog)) as Scalar);
  }

  apply(): Tensor {
    return this.scale();
  }

  clamp(): void {
    tf.tidy(() => this.log.assign(tf.clipByValue(this.log, 0, this.maxLog)));
  }

  dispose(): void {
    this.log.dispose();
  }
}
