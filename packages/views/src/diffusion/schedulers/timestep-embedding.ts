import { GenviewError } from '@genview/core';

export interface TimestepEmbeddingOptions {
  /** Put the cosines first. Default true, as unCLIP's noise_level embedding. */
  flipSinToCos?: boolean;
  /** Frequency i is max_period^(-i / (half - shift)). Default 0, as unCLIP's noise_level embedding. */
  downscaleFreqShift?: number;
  scale?: number;
  maxPeriod?: number;
}

/**
 * diffusers' `get_timestep_embedding` for one timestep (Vaswani et al.'s sinusoids as DDPM uses
 * them). The defaults are the ones Stable unCLIP uses to embed noise_level next to the noised
 * image embedding (flip_sin_to_cos=True, downscale_freq_shift=0), giving [cos..., sin...]; an odd
 * `dim` ends in a zero. Intermediate values are rounded to float32 where torch computes in float32,
 * so large timesteps produce the same phases as the reference.
 */
export function timestepEmbedding(timestep: number, dim: number, options: TimestepEmbeddingOptions = {}): Float32Array {
  if (!Number.isInteger(dim) || dim < 1) {
    throw new GenviewError('BAD_INPUT', `dim must be a positive integer; got ${dim}.`, { where: 'timestepEmbedding', fix: 'pass the width of the image embedding (e.g. 768 or 1024).' });
  }
  if (!Number.isFinite(timestep)) {
    throw new GenviewError('BAD_INPUT', `timestep must be a finite number; got ${timestep}.`, { where: 'timestepEmbedding' });
  }
  const { flipSinToCos = true, downscaleFreqShift = 0, scale = 1, maxPeriod = 10000 } = options;
  const half = Math.floor(dim / 2);
  const f = Math.fround;
  const logPeriod = f(-Math.log(maxPeriod));
  const t = f(timestep);
  const out = new Float32Array(dim);
  const [cosAt, sinAt] = flipSinToCos ? [0, half] : [half, 0];
  for (let i = 0; i < half; i++) {
    const exponent = f(f(logPeriod * i) / f(half - downscaleFreqShift));
    const arg = f(scale * f(t * f(Math.exp(exponent))));
    out[cosAt + i] = Math.cos(arg);
    out[sinAt + i] = Math.sin(arg);
  }
  return out;
}
