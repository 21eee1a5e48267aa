import { GenviewError, Rng } from '@genview/core';

/** Which dataset indices each step reads; must be a pure function of the step for resumes to be exact. */
export interface BatchSchedule {
  readonly stepsPerEpoch: number;
  indices(step: number): Int32Array;
}

/**
 * The batch order as a pure function of (seed, step): epoch e is a seeded permutation, batches are
 * consecutive slices, the last partial batch is dropped. Resuming at step s therefore needs no saved
 * loader state to see exactly the batches the uninterrupted run saw.
 */
export class BatchOrder implements BatchSchedule {
  private cachedEpoch = -1;
  private cachedPermutation: Int32Array = new Int32Array(0);
  readonly stepsPerEpoch: number;

  constructor(
    private readonly seed: number,
    readonly datasetSize: number,
    readonly batchSize: number,
  ) {
    if (datasetSize < batchSize) {
      throw new GenviewError('INVALID_CONFIG', `batch size ${batchSize} is larger than the training set (${datasetSize} images).`, {
        where: 'trainer.batchSize',
        fix: `use a batch size of at most ${datasetSize}.`,
      });
    }
    this.stepsPerEpoch = Math.floor(datasetSize / batchSize);
  }

  epochOf(step: number): number {
    return Math.floor(step / this.stepsPerEpoch);
  }

  indices(step: number): Int32Array {
    const epoch = this.epochOf(step);
    if (epoch !== this.cachedEpoch) {
      this.cachedPermutation = new Rng(this.seed).fork(`epoch-${epoch}`).permutation(this.datasetSize);
      this.cachedEpoch = epoch;
    }
    const offset = (step % this.stepsPerEpoch) * this.batchSize;
    return this.cachedPermutation.slice(offset, offset + this.batchSize);
  }
}
