import { type Tensor, tf } from '@genview/core';

/**
 * Euclidean norm of all elements, as a scalar tensor. tf.norm is avoided on purpose: it raises to
 * the power 2 through Tensor.cast, which needs tfjs's chained-op handler that GenView's core import
 * does not install.
 */
export function l2Norm(x: Tensor): Tensor {
  return tf.sqrt(tf.sum(tf.square(x)));
}
