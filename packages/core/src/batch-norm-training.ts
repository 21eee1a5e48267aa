import * as tf from '@tensorflow/tfjs-core';
import { GenviewError } from './errors';

/**
 * Kernel a backend may register to run training-mode batch norm in one fused call.
 * Inputs: x [..., C] float32, scale [C], offset [C]; attr varianceEpsilon.
 * Outputs: y (x's shape) = (x - mean) / sqrt(variance + eps) * scale + offset, mean [C], and the biased
 * batch variance [C], both over every axis but the last.
 */
export const BATCH_NORM_TRAINING_KERNEL = 'GenviewBatchNormTraining';
/**
 * Its gradient, taking the mean's and variance's dependence on x into account.
 * Inputs: dy, x, mean, variance, scale (as above); attr varianceEpsilon.
 * Outputs: dx (x's shape), dScale [C], dOffset [C].
 */
export const BATCH_NORM_TRAINING_GRAD_KERNEL = 'GenviewBatchNormTrainingGrad';

export interface BatchNormTrainingOptions {
  varianceEpsilon: number;
  /** Sees the (detached) batch mean and biased variance, e.g. to update running statistics. */
  onStatistics?: (mean: tf.Tensor1D, variance: tf.Tensor1D) => void;
}

function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) != null;
}

function forward(x: tf.Tensor, scale: tf.Tensor1D, offset: tf.Tensor1D, eps: number): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  if (hasKernel(BATCH_NORM_TRAINING_KERNEL)) {
    return tf.engine().runKernel(BATCH_NORM_TRAINING_KERNEL, { x, scale, offset }, { varianceEpsilon: eps }) as unknown as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
  }
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  // Folding the scale into one per-channel multiplier keeps the full-size work to one mul and one add.
  const multiplier = tf.mul(tf.rsqrt(tf.add(variance, eps)), scale);
  const shift = tf.sub(offset, tf.mul(mean, multiplier));
  return [tf.add(tf.mul(x, multiplier), shift), mean as tf.Tensor1D, variance as tf.Tensor1D];
}

function backward(dy: tf.Tensor, x: tf.Tensor, mean: tf.Tensor1D, variance: tf.Tensor1D, scale: tf.Tensor1D, eps: number): tf.Tensor[] {
  if (hasKernel(BATCH_NORM_TRAINING_GRAD_KERNEL)) {
    return tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD_KERNEL, { dy, x, mean, variance, scale }, { varianceEpsilon: eps }) as unknown as tf.Tensor[];
  }
  // The closed form, dx = scale·invStd·(dy − mean(dy) − x̂·mean(dy·x̂)), in fewer full-size passes than
  // differentiating moments() and the normalisation op by op.
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const count = x.size / (x.shape[x.rank - 1] as number);
  const invStd = tf.rsqrt(tf.add(variance, eps));
  const centred = tf.sub(x, mean);
  const dOffset = tf.sum(dy, axes);
  const dyCentred = tf.sum(tf.mul(dy, centred), axes);
  const dScale = tf.mul(dyCentred, invStd);
  const k = tf.mul(scale, invStd);
  // dx = k·dy − k·dOffset/N − centred·k·invStd²·dyCentred/N
  const centredCoef = tf.div(tf.mul(tf.mul(k, tf.square(invStd)), dyCentred), count);
  const constant = tf.div(tf.mul(k, dOffset), count);
  const dx = tf.sub(tf.sub(tf.mul(dy, k), tf.mul(centred, centredCoef)), constant);
  return [dx, dScale, dOffset];
}

/**
 * Training-mode batch normalisation over every axis but the last (channels), differentiable in x, scale
 * and offset: one fused kernel each way where the backend registers BATCH_NORM_TRAINING_KERNEL and its
 * gradient, otherwise tfjs ops with the closed-form gradient. Pass ones and zeros for a norm without
 * learnable scale and shift.
 */
export function batchNormTraining<T extends tf.Tensor>(x: T, scale: tf.Tensor, offset: tf.Tensor, options: BatchNormTrainingOptions): T {
  const fix = 'pass x with channels last (at least 2 axes) and one scale and one offset value per channel.';
  if (x.rank < 2) throw new GenviewError('BAD_SHAPE', `batchNormTraining: x must be [..., channels] with at least 2 axes, got [${x.shape.join(', ')}].`, { fix });
  const channels = x.shape[x.rank - 1] as number;
  for (const [name, t] of [
    ['scale', scale],
    ['offset', offset],
  ] as const) {
    if (t.rank !== 1 || t.shape[0] !== channels) {
      throw new GenviewError('BAD_SHAPE', `batchNormTraining: x [${x.shape.join(', ')}] needs ${name} of shape [${channels}], got [${t.shape.join(', ')}].`, { fix });
    }
  }
  const eps = options.varianceEpsilon;
  const op = tf.customGrad(((input: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const [y, mean, variance] = forward(input, gamma, beta, eps);
    options.onStatistics?.(mean, variance);
    save([input, mean, variance, gamma]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedX, savedMean, savedVariance, savedScale] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        return backward(dy, savedX, savedMean, savedVariance, savedScale, eps);
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x, scale, offset) as T;
}
