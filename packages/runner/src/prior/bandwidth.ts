import { GenviewError, Rng } from '@genview/core';
import type { PriorFeatures } from './features';

export interface MedianDistanceOptions {
  /** Random pairs of distinct indices to measure; the median of a few thousand is stable to a few percent. */
  pairs?: number;
  seed?: number;
}

/**
 * The median Euclidean distance between the prior features of random pairs of distinct samples: the
 * usual bandwidth heuristic for an RBF kernel on a prior (σ near it keeps K neither the identity nor
 * all ones). Pairs are sampled because all pairs of a whole dataset would be quadratic.
 */
export function medianPairwiseDistance(prior: PriorFeatures, options: MedianDistanceOptions = {}, where = 'prior'): number {
  const pairs = options.pairs ?? 2000;
  if (prior.count < 2) {
    throw new GenviewError('BAD_INPUT', `a median pairwise distance needs at least 2 samples, the prior has ${prior.count}.`, { where, fix: 'build the prior on the training set.' });
  }
  if (!(Number.isInteger(pairs) && pairs >= 1)) {
    throw new GenviewError('BAD_INPUT', `pairs must be a positive integer, got ${pairs}.`, { where, fix: 'measure a few thousand pairs (the default is 2000).' });
  }
  const rng = new Rng(options.seed ?? 0).fork('median-distance');
  const left = new Int32Array(pairs);
  const right = new Int32Array(pairs);
  for (let p = 0; p < pairs; p++) {
    left[p] = rng.int(prior.count);
    // A uniform index other than left[p]: draw from count − 1 values and skip over left[p].
    const other = rng.int(prior.count - 1);
    right[p] = other >= left[p] ? other + 1 : other;
  }
  const a = prior.featuresFor(left);
  const b = prior.featuresFor(right);
  const x = a.dataSync();
  const y = b.dataSync();
  a.dispose();
  b.dispose();
  const dim = prior.dim;
  const distances = new Float64Array(pairs);
  for (let p = 0; p < pairs; p++) {
    let sum = 0;
    for (let k = p * dim; k < (p + 1) * dim; k++) sum += (x[k] - y[k]) ** 2;
    distances[p] = Math.sqrt(sum);
  }
  distances.sort();
  return pairs % 2 ? distances[(pairs - 1) / 2] : (distances[pairs / 2 - 1] + distances[pairs / 2]) / 2;
}
