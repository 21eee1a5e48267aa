import { GenviewError } from '@genview/core';
import { linspace, reversed, roundHalfEven } from './numeric';

export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

/** Rejects step counts diffusers would reject (or silently turn into a schedule of zeros). */
export function checkInferenceSteps(numInferenceSteps: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 1 || numInferenceSteps > numTrainTimesteps) {
    throw new GenviewError('BAD_INPUT', `numInferenceSteps must be an integer from 1 to num_train_timesteps (${numTrainTimesteps}); got ${numInferenceSteps}.`, {
      where: 'numInferenceSteps',
      fix: 'typical values are 20-50.',
    });
  }
}

/** `arange(0, count) * ratio` reversed: the leading schedule before its offset. */
function leading(count: number, ratio: number, offset: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = (count - 1 - i) * ratio + offset;
  return out;
}

/**
 * `round(arange(start, 0, -T / N)) - 1`. numpy's float arange fills `start + i * delta` with delta
 * taken back from its first two values, which is reproduced because it decides ties such as 812.5.
 * Its length is not: numpy sizes the array as ceil(start / (T / N)) in floating point, which for
 * some N (T = 1000: N = 61, 103, 121, ...) comes out one too long and appends the timestep -1, an
 * index diffusers then reads off the wrong end of alphas_cumprod. The count here is the exact
 * ceil(start * N / T).
 */
function trailing(start: number, numTrainTimesteps: number, numInferenceSteps: number): Float64Array {
  const step = -numTrainTimesteps / numInferenceSteps;
  const delta = start + step - start;
  const count = Math.floor((start * numInferenceSteps + numTrainTimesteps - 1) / numTrainTimesteps);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = roundHalfEven(start + i * delta) - 1;
  return out;
}

/**
 * DDIM's inference timesteps (integers), as `DDIMScheduler.set_timesteps`:
 * leading `arange(0, N) * (T // N)` reversed plus steps_offset; trailing
 * `round(arange(T, 0, -T / N)) - 1`; linspace `round(linspace(0, T - 1, N))` reversed.
 * Only leading adds steps_offset, as in diffusers.
 */
export function ddimTimesteps(spacing: TimestepSpacing, numTrainTimesteps: number, numInferenceSteps: number, stepsOffset = 0): Float64Array {
  checkInferenceSteps(numInferenceSteps, numTrainTimesteps);
  switch (spacing) {
    case 'leading':
      return leading(numInferenceSteps, Math.floor(numTrainTimesteps / numInferenceSteps), stepsOffset);
    case 'trailing':
      return trailing(numTrainTimesteps, numTrainTimesteps, numInferenceSteps);
    case 'linspace':
      return reversed(linspace(0, numTrainTimesteps - 1, numInferenceSteps).map(roundHalfEven));
  }
}

/**
 * The Euler schedulers' timesteps: the same as DDIM's except that linspace is not rounded, and
 * every value is a float32 (the dtype diffusers keeps them in, and the one the sigmas are
 * interpolated at).
 */
export function eulerTimesteps(spacing: TimestepSpacing, numTrainTimesteps: number, numInferenceSteps: number, stepsOffset = 0): Float64Array {
  checkInferenceSteps(numInferenceSteps, numTrainTimesteps);
  const ts =
    spacing === 'linspace' ? reversed(linspace(0, numTrainTimesteps - 1, numInferenceSteps)) : ddimTimesteps(spacing, numTrainTimesteps, numInferenceSteps, stepsOffset);
  return ts.map(Math.fround);
}

/**
 * DPM-Solver's timesteps, which differ from DDIM's in leading and linspace: they space N + 1
 * points and drop the last (t = 0), so no step is spent at the lowest noise level the final
 * jump to sigma = 0 covers anyway. `lastTimestep` is T unless lambda_min_clipped cuts the top off.
 */
export function dpmSolverTimesteps(
  spacing: TimestepSpacing,
  numTrainTimesteps: number,
  numInferenceSteps: number,
  stepsOffset = 0,
  lastTimestep = numTrainTimesteps,
): Float64Array {
  checkInferenceSteps(numInferenceSteps, numTrainTimesteps);
  switch (spacing) {
    case 'leading':
      return leading(numInferenceSteps + 1, Math.floor(lastTimestep / (numInferenceSteps + 1)), stepsOffset).subarray(0, numInferenceSteps).slice();
    case 'trailing':
      return trailing(lastTimestep, numTrainTimesteps, numInferenceSteps);
    case 'linspace':
      return reversed(linspace(0, lastTimestep - 1, numInferenceSteps + 1).map(roundHalfEven)).subarray(0, numInferenceSteps).slice();
  }
}

/**
 * The first step index of an img2img run at `strength` (0 keeps the image, 1 starts from pure
 * noise), as the diffusers img2img pipelines pick it: init = min(floor(N * strength), N),
 * start = N - init. Steps start..N-1 run; start = N means none do.
 */
export function img2imgStart(numInferenceSteps: number, strength: number): number {
  if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 1) {
    throw new GenviewError('BAD_INPUT', `numInferenceSteps must be a positive integer; got ${numInferenceSteps}.`, { where: 'numInferenceSteps' });
  }
  if (!(strength >= 0 && strength <= 1)) {
    throw new GenviewError('BAD_INPUT', `strength must be in [0, 1]; got ${strength}.`, {
      where: 'strength',
      fix: '0 returns the input image, 1 ignores it; 0.5-0.8 is the usual range.',
    });
  }
  const init = Math.min(Math.floor(numInferenceSteps * strength), numInferenceSteps);
  return Math.max(numInferenceSteps - init, 0);
}
