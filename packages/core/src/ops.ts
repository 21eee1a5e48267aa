import * as tf from '@tensorflow/tfjs-core';

/**
 * Identity forward, zero gradient backward. tfjs-core has no stop-gradient op, and momentum
 * targets, SimSiam's target branch and detached quality weights all need one.
 */
const stopGradientOp = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]);

export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stopGradientOp(x) as T;
}

/** x / max(‖x‖₂, eps) along `axis` (PyTorch's F.normalize); tfjs-core has no such op. */
export function l2Normalize<T extends tf.Tensor>(x: T, axis = -1, eps = 1e-12): T {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.sum(tf.square(x), axis, true));
    return tf.div(x, tf.maximum(norm, eps)) as T;
  });
}
