import type { Rng } from '@genview/core';

/**
 * Initialisers that draw only from the seeded Rng, so the same seed gives the same weights on every
 * backend (tf's own random ops are backend-dependent and not resumable).
 */

/** N(0, std²). */
export function normalInit(rng: Rng, length: number, std: number): Float32Array {
  return rng.normalArray(length, 0, std);
}

/** N(0, std²) with draws beyond ±2 std redrawn, as timm's trunc_normal_ (used for ViT weights). */
export function truncNormalInit(rng: Rng, length: number, std: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    let v = rng.normal();
    while (v < -2 || v > 2) v = rng.normal();
    out[i] = v * std;
  }
  return out;
}

/** U(-bound, bound). */
export function uniformInit(rng: Rng, length: number, bound: number): Float32Array {
  return rng.uniformArray(length, -bound, bound);
}

export function constantInit(length: number, value: number): Float32Array {
  return new Float32Array(length).fill(value);
}

/**
 * He (Kaiming) normal: std = sqrt(2 / fan) keeps activation variance constant through ReLU layers.
 * 'fan_out' is what torchvision's ResNet uses; 'fan_in' is the textbook choice.
 */
export function heNormalInit(rng: Rng, length: number, fan: number): Float32Array {
  return rng.normalArray(length, 0, Math.sqrt(2 / fan));
}
