import { type PriorKernel, ShapeCheck, type Tensor2D, definePlugin, l2Normalize, tf, z } from '@genview/core';

const WHERE = 'kernel cosine';

/** Cosine-similarity kernel (the Gram matrix of L2-normalised prior features), [N, F] → [N, N]. */
export function cosineKernel(features: Tensor2D): Tensor2D {
  new ShapeCheck(WHERE).check(features, 'features', ['N', 'F']);
  return tf.tidy(() => {
    const unit = l2Normalize(features);
    return tf.matMul(unit, unit, false, true) as Tensor2D;
  });
}

export const cosineKernelPlugin = definePlugin({
  kind: 'kernel',
  name: 'cosine',
  package: '@genview/losses',
  description: 'Cosine kernel ⟨f_i, f_j⟩/(‖f_i‖‖f_j‖) on prior features (positive semi-definite, no bandwidth to tune).',
  configSchema: z.object({}).strict(),
  create: (): PriorKernel => ({ name: 'cosine', matrix: (features) => cosineKernel(features) }),
});
