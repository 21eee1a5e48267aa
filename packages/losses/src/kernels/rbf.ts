import { type PriorKernel, ShapeCheck, type Tensor2D, definePlugin, tf, z } from '@genview/core';
import { requirePositive } from '../common';

const WHERE = 'kernel rbf';

/** ‖f_i − f_j‖² for all pairs of rows, [N, N], clamped at 0 against rounding. */
export function pairwiseSquaredDistances(features: Tensor2D): Tensor2D {
  return tf.tidy(() => {
    const sqNorm = tf.sum(tf.square(features), 1);
    const gram = tf.matMul(features, features, false, true);
    return tf.relu(tf.sub(tf.add(tf.expandDims(sqNorm, 1), tf.expandDims(sqNorm, 0)), tf.mul(gram, 2))) as Tensor2D;
  });
}

/** Gaussian kernel exp(−γ‖f_i − f_j‖²), γ = 1/(2σ²), on prior features [N, F] → [N, N]. */
export function rbfKernel(features: Tensor2D, sigma: number): Tensor2D {
  requirePositive(sigma, 'sigma', WHERE);
  new ShapeCheck(WHERE).check(features, 'features', ['N', 'F']);
  const gamma = 1 / (2 * sigma * sigma);
  return tf.tidy(() => tf.exp(tf.mul(pairwiseSquaredDistances(features), -gamma)) as Tensor2D);
}

export const rbfKernelPlugin = definePlugin({
  kind: 'kernel',
  name: 'rbf',
  package: '@genview/losses',
  description: 'Gaussian (RBF) kernel exp(−‖f_i − f_j‖²/(2σ²)) on prior features; upstream σ is 100 on ImageNet-100 features, 10–20 on smaller sets.',
  configSchema: z
    .object({
      /** Bandwidth in the units of the prior features; pick it near the median pairwise distance. */
      sigma: z.number().positive().default(1),
    })
    .strict(),
  create: (config): PriorKernel => ({
    name: 'rbf',
    matrix: (features) => rbfKernel(features, config.sigma),
  }),
});
