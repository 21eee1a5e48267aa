import { type Module, Rng, type Tensor4D, tf } from '@genview/core';

/** Deterministic images in [0, 1], NHWC. */
export function images(n: number, size: number, channels: number, seed = 1): Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(rng.uniformArray(n * size * size * channels), [n, size, size, channels]);
}

export function paramCount(module: Module, trainableOnly = true): number {
  return module.variables().reduce((sum, v) => sum + (v.trainable || !trainableOnly ? v.variable.size : 0), 0);
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}
