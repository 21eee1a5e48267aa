import { type FeatureExtractor, Rng, type Tensor2D, type Tensor3D, type Tensor4D, tf } from '@genview/core';

/**
 * Synthetic "images" whose pixels are token vectors: an H×W×D image is an H·W-token map, and the test
 * encoder just reshapes it. So where the foreground is, and what it is, is known exactly.
 */
export const D = 8;

export function basis(i: number, scale = 1): Float32Array {
  const v = new Float32Array(D);
  v[i] = scale;
  return v;
}

export function add(...vs: Float32Array[]): Float32Array {
  const out = new Float32Array(D);
  for (const v of vs) for (let i = 0; i < D; i++) out[i] += v[i];
  return out;
}

/** Token positions ordered from the grid centre outwards (ties by index), so foreground sits in the middle. */
export function centreOrder(h: number, w: number): number[] {
  const ci = (h - 1) / 2;
  const cj = (w - 1) / 2;
  const d = (t: number) => Math.hypot(Math.floor(t / w) - ci, (t % w) - cj);
  return Array.from({ length: h * w }, (_, t) => t).sort((a, b) => d(a) - d(b) || a - b);
}

/** One token map [h·w·D]: `fgCount` central tokens get fg, the rest bg, plus Gaussian noise. */
export function tokenMap(h: number, w: number, fgCount: number, fg: Float32Array, bg: Float32Array, noise: number, rng: Rng): Float32Array {
  const out = new Float32Array(h * w * D);
  const fgSet = new Set(centreOrder(h, w).slice(0, fgCount));
  for (let t = 0; t < h * w; t++) {
    const base = fgSet.has(t) ? fg : bg;
    for (let i = 0; i < D; i++) out[t * D + i] = base[i] + (noise > 0 ? rng.normal(0, noise) : 0);
  }
  return out;
}

/** Stacks maps into [N, h, w, D] images. */
export function images(maps: Float32Array[], h: number, w: number): Tensor4D {
  const data = new Float32Array(maps.length * h * w * D);
  for (const [i, m] of maps.entries()) data.set(m, i * h * w * D);
  return tf.tensor4d(data, [maps.length, h, w, D]);
}

export function tokensOf(maps: Float32Array[], h: number, w: number): Tensor3D {
  const data = new Float32Array(maps.length * h * w * D);
  for (const [i, m] of maps.entries()) data.set(m, i * h * w * D);
  return tf.tensor3d(data, [maps.length, h * w, D]);
}

/** The test encoder: patch tokens are the pixels; the embedding is their mean. Differentiable. */
export const gridExtractor: FeatureExtractor = {
  featureDim: D,
  embed: (x: Tensor4D) => tf.tidy(() => tf.mean(tf.reshape(x, [x.shape[0], -1, x.shape[3]]), 1) as Tensor2D),
  patchTokens: (x: Tensor4D) => tf.reshape(x, [x.shape[0], x.shape[1] * x.shape[2], x.shape[3]]) as Tensor3D,
};

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

export { Rng };
