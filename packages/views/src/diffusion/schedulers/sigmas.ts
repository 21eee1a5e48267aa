import { interpAtIndex, linspace } from './numeric';

/**
 * Noise levels in the variance-exploding parametrisation x = x0 + sigma * eps that the Euler and
 * DPM-Solver samplers integrate in: sigma_t = sqrt((1 - a_t) / a_t), rising with t.
 */
export function trainingSigmas(alphasCumprod: Float64Array): Float64Array {
  return alphasCumprod.map((a) => Math.sqrt((1 - a) / a));
}

/** sigma at each (possibly fractional) timestep, linear in sigma between training steps. */
export function sigmasAtTimesteps(timesteps: Float64Array, trainSigmas: Float64Array): Float64Array {
  return timesteps.map((t) => interpAtIndex(t, trainSigmas));
}

/**
 * The inverse of `sigmasAtTimesteps` for schedules chosen in sigma space (Karras): the timestep
 * whose sigma is `sigma`, interpolating linearly in log sigma between the bracketing training
 * steps, as diffusers' `_sigma_to_t`.
 */
export function sigmaToTimestep(sigma: number, logTrainSigmas: Float64Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  const n = logTrainSigmas.length;
  // The last training step at or below logSigma (0 when none is), kept one short of the end so
  // there is a step above it to interpolate towards.
  let low = 0;
  for (let j = 0; j < n; j++) if (logTrainSigmas[j] <= logSigma) low = j;
  low = Math.min(low, n - 2);
  const lo = logTrainSigmas[low];
  const hi = logTrainSigmas[low + 1];
  const w = Math.min(Math.max((lo - logSigma) / (lo - hi), 0), 1);
  return (1 - w) * low + w * (low + 1);
}

/** Karras et al. (2022) eq. 5: sigmas evenly spaced in sigma^(1/rho), from sigmaMax down to sigmaMin. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, count: number, rho = 7): Float64Array {
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return linspace(0, 1, count).map((ramp) => (maxInv + ramp * (minInv - maxInv)) ** rho);
}

/** Appends the sigma the last step lands on: 0 (a clean sample) or the smallest training sigma. */
export function withFinalSigma(sigmas: Float64Array, finalSigmasType: 'zero' | 'sigma_min', trainSigmas: Float64Array): Float64Array {
  const out = new Float64Array(sigmas.length + 1);
  out.set(sigmas);
  out[sigmas.length] = finalSigmasType === 'zero' ? 0 : trainSigmas[0];
  return out;
}
