import { linspace } from './numeric';

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';

export interface BetaOptions {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  trained_betas?: readonly number[];
}

/**
 * Nichol & Dhariwal's cosine schedule, alpha_bar(t) = cos^2(((t + s) / (1 + s)) * pi / 2) with
 * s = 0.008, as per-step betas; the cap keeps the last betas away from 1, where alpha_bar reaches 0
 * and x_T would carry no trace of the data.
 */
export function cosineBetas(numTrainTimesteps: number, maxBeta = 0.999): Float64Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float64Array(numTrainTimesteps);
  for (let i = 0; i < numTrainTimesteps; i++) {
    const t1 = i / numTrainTimesteps;
    const t2 = (i + 1) / numTrainTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/**
 * The training betas. Computed in float64 where diffusers uses float32: the difference
 * (about 1e-6 relative in alphas_cumprod) is far below what a float32 UNet resolves, and float64
 * keeps the exactness tests meaningful.
 */
export function betasFor(options: BetaOptions): Float64Array {
  const { num_train_timesteps: T, beta_start, beta_end } = options;
  if (options.trained_betas) return Float64Array.from(options.trained_betas);
  switch (options.beta_schedule) {
    case 'linear':
      return linspace(beta_start, beta_end, T);
    case 'scaled_linear':
      // Linear in sqrt(beta), the Stable Diffusion / LDM schedule.
      return linspace(Math.sqrt(beta_start), Math.sqrt(beta_end), T).map((b) => b * b);
    case 'squaredcos_cap_v2':
      return cosineBetas(T);
  }
}

export function alphasCumprodFromBetas(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let product = 1;
  for (let i = 0; i < betas.length; i++) {
    product *= 1 - betas[i];
    out[i] = product;
  }
  return out;
}

/** alphas_cumprod[t] = prod_{s <= t} (1 - beta_s): the signal fraction left after t + 1 steps. */
export function alphasCumprodFor(options: BetaOptions): Float64Array {
  return alphasCumprodFromBetas(betasFor(options));
}
