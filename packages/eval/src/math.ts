import { type Tensor2D, tf } from '@genview/core';

/** Rows scaled to unit L2 norm; an all-zero row stays zero instead of becoming NaN. */
export function l2NormalizeRows(x: Tensor2D): Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.sqrt(tf.sum(tf.square(x), 1, true)), 1e-12)) as Tensor2D);
}
