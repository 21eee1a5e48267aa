import { GenviewError, type PriorKernel, ShapeCheck, type Tensor2D, definePlugin, tf, z } from '@genview/core';
import { requirePositive } from '../common';
import { rbfKernel } from './rbf';

const WHERE = 'kernel attributes';

export interface AttributeKernelOptions {
  /**
   * 'match': the columns are categorical codes (a label, a coarse group, a metadata value) and
   * K_ij is the fraction of columns on which samples i and j agree: an average of delta kernels,
   * so positive semi-definite. 'rbf': the columns are numeric (or one-hot) and K is a Gaussian kernel.
   */
  mode?: 'match' | 'rbf';
  /** RBF bandwidth (mode 'rbf'). */
  sigma?: number;
  /** Per-column weights (mode 'match'), normalised to sum 1; equal by default. */
  weights?: number[];
}

/** A kernel from weak attributes, [N, F] attribute columns → [N, N]. */
export function attributeKernel(attributes: Tensor2D, options: AttributeKernelOptions = {}): Tensor2D {
  const mode = options.mode ?? 'match';
  if (mode === 'rbf') return rbfKernel(attributes, options.sigma ?? 1);
  new ShapeCheck(WHERE).check(attributes, 'attributes', ['N', 'F']);
  const columns = attributes.shape[1];
  const weights = options.weights ?? new Array<number>(columns).fill(1);
  if (weights.length !== columns) {
    throw new GenviewError('BAD_INPUT', `weights has ${weights.length} entries but the attributes have ${columns} columns.`, {
      where: `${WHERE}.weights`,
      fix: 'give one weight per attribute column, or leave weights unset for equal weights.',
    });
  }
  for (const w of weights) requirePositive(w, 'each attribute weight', `${WHERE}.weights`);
  const total = weights.reduce((s, w) => s + w, 0);
  return tf.tidy(() => {
    // [N, 1, F] == [1, N, F] → per-column agreement, weighted and summed over columns.
    const same = tf.cast(tf.equal(tf.expandDims(attributes, 1), tf.expandDims(attributes, 0)), 'float32');
    return tf.sum(tf.mul(same, tf.tensor1d(weights.map((w) => w / total))), 2) as Tensor2D;
  });
}

export const attributeKernelPlugin = definePlugin({
  kind: 'kernel',
  name: 'attributes',
  package: '@genview/losses',
  description:
    'Kernel from weak attributes: fraction of matching categorical columns (labels, metadata codes), or an RBF on numeric/one-hot columns.',
  configSchema: z
    .object({
      mode: z.enum(['match', 'rbf']).default('match'),
      sigma: z.number().positive().default(1),
      weights: z.array(z.number().positive()).optional(),
    })
    .strict(),
  create: (config): PriorKernel => ({
    name: 'attributes',
    matrix: (features) => attributeKernel(features, { mode: config.mode, sigma: config.sigma, weights: config.weights }),
  }),
});
