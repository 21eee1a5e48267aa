import { GenviewError } from '@genview/core';
import { checkSameLength } from './checks';

/**
 * DDPM's forward process q(x_t | x_0): sqrt(a_t) x + sqrt(1 - a_t) noise at the integer training
 * step t. unCLIP (Stable unCLIP, Karlo) noises the CLIP image embedding this way before the UNet
 * sees it, with a DDPMScheduler (squaredcos_cap_v2) and t = noise_level.
 */
export function addNoiseAtTimestep(x: Float32Array, noise: Float32Array, t: number, alphasCumprod: ArrayLike<number>): Float32Array {
  const where = 'addNoiseAtTimestep';
  if (!Number.isInteger(t) || t < 0 || t >= alphasCumprod.length) {
    throw new GenviewError('BAD_INPUT', `t must be an integer training step from 0 to ${alphasCumprod.length - 1}; got ${t}.`, {
      where,
      fix: 'unCLIP noise_level is such a step: 0 adds no noise, 999 is the top of a 1000-step schedule.',
    });
  }
  checkSameLength(x.length, noise, 'noise', where);
  const a = alphasCumprod[t];
  const signal = Math.sqrt(a);
  const spread = Math.sqrt(1 - a);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = signal * x[i] + spread * noise[i];
  return out;
}
