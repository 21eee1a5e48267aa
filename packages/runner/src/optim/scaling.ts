import { GenviewError } from '@genview/core';

/** Linear scaling rule (Goyal et al.; SimCLR, BYOL, solo-learn): lr = baseLr · batchSize / reference. */
export function scaledLr(baseLr: number, batchSize: number, reference = 256): number {
  if (!(baseLr >= 0) || !Number.isFinite(baseLr)) {
    throw new GenviewError('BAD_INPUT', `scaledLr needs a finite baseLr >= 0, got ${baseLr}.`);
  }
  if (!Number.isInteger(batchSize) || batchSize < 1 || !(reference > 0)) {
    throw new GenviewError('BAD_INPUT', `scaledLr needs an integer batchSize >= 1 and reference > 0, got ${batchSize} and ${reference}.`, {
      fix: 'pass the global batch size (summed over processes) and the reference batch size the base lr was tuned for.',
    });
  }
  return (baseLr * batchSize) / reference;
}
