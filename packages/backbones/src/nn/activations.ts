import { type Tensor, tf } from '@genview/core';

/** Exact GELU, x·Φ(x) through erf, as PyTorch's nn.GELU() default (not the tanh approximation). */
export function gelu<T extends Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)) as T);
}

export function relu<T extends Tensor>(x: T): T {
  return tf.relu(x);
}
