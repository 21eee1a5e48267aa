import { GenviewError, type Scalar, type Tensor2D, tf } from '@genview/core';
import { expect } from 'vitest';
import type { Mat } from './reference';

/** A 4x3 batch of two views with no symmetry, so every anchor has a distinct loss and gradient. */
export const A: Mat = [
  [1.0, 0.2, -0.5],
  [0.3, -1.2, 0.8],
  [-0.7, 0.4, 1.1],
  [0.9, 1.3, 0.1],
];
export const B: Mat = [
  [0.8, 0.5, -0.2],
  [0.1, -0.9, 1.2],
  [-1.0, 0.2, 0.6],
  [0.4, 1.1, -0.3],
];

export const t2 = (m: Mat): Tensor2D => tf.tensor2d(m);

/** A scalar loss's value, with every intermediate tensor freed. */
export const value = (f: () => Scalar): number => {
  const s = tf.tidy(f);
  const out = s.dataSync()[0];
  s.dispose();
  return out;
};

/** tf gradient of f with respect to x, as nested arrays. */
export const tfGrad = (f: (x: Tensor2D) => Scalar, x: Mat): Mat => {
  const g = tf.tidy(() => tf.grad((v: tf.Tensor) => f(v as Tensor2D))(t2(x)));
  const out = g.arraySync() as Mat;
  g.dispose();
  return out;
};

/** Element-wise closeness, relative where the expected value is larger than 1. */
export const expectClose = (actual: Mat, expected: Mat, tol: number) => {
  for (const [i, row] of actual.entries()) {
    for (const [j, v] of row.entries()) expect(Math.abs(v - expected[i][j])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(expected[i][j])));
  }
};

/** Runs f on the matrices as tensors and frees them afterwards, whatever f does. */
export const withTensors = <T>(mats: Mat[], f: (...ts: Tensor2D[]) => T): T => {
  const ts = mats.map(t2);
  try {
    return f(...ts);
  } finally {
    for (const t of ts) t.dispose();
  }
};

/** The GenviewError f throws (inside a tidy, so a failed computation leaks nothing); any other outcome fails. */
export const caught = (f: () => unknown): GenviewError => {
  try {
    tf.tidy(() => {
      f();
      return undefined;
    });
  } catch (error) {
    if (error instanceof GenviewError) return error;
    throw error;
  }
  throw new Error('expected a GenviewError');
};
