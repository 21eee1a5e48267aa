import { GenviewError } from '@genview/core';
import type { NoiseSource } from './types';

export function checkStepIndex(stepIndex: number, numSteps: number, where: string): void {
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= numSteps) {
    throw new GenviewError('BAD_INPUT', `stepIndex must be an integer from 0 to ${numSteps - 1}; got ${stepIndex}.`, {
      where,
      fix: 'pass the loop index over scheduler.timesteps, not the timestep value.',
    });
  }
}

export function checkSameLength(expected: number, actual: Float32Array, what: string, where: string): void {
  if (actual.length !== expected) {
    throw new GenviewError('BAD_SHAPE', `${what} has ${actual.length} values; expected ${expected}, the size of the sample.`, {
      where,
      fix: 'pass arrays of the same latent shape (batch * channels * height * width).',
    });
  }
}

/** Draws one noise array, insisting on a source and on the sample's size. */
export function drawNoise(noise: NoiseSource | undefined, length: number, where: string): Float32Array {
  if (!noise) {
    throw new GenviewError('BAD_INPUT', 'this scheduler step is stochastic and needs a noise source.', {
      where,
      fix: 'pass () => rng.normalArray(sample.length) with a seeded Rng from @genview/core.',
    });
  }
  const drawn = noise();
  checkSameLength(length, drawn, 'the noise source returned an array that', where);
  return drawn;
}
