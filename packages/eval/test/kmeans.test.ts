import { type Dataset, type FeatureExtractor, Rng, type Tensor2D, type Tensor4D, tf } from '@genview/core';
import { describe, expect, it } from 'vitest';
import { clusterAgreement, kmeans, pairProbe } from '../src/index';

/** `perCluster` points around each of `centres` (row-major [k, dim]) with Gaussian spread. */
function blobs(centres: number[][], perCluster: number, spread: number, rng: Rng) {
  const dim = centres[0].length;
  const features = new Float32Array(centres.length * perCluster * dim);
  const truth = new Int32Array(centres.length * perCluster);
  let row = 0;
  for (let c = 0; c < centres.length; c++) {
    for (let p = 0; p < perCluster; p++, row++) {
      truth[row] = c;
      for (let d = 0; d < dim; d++) features[row * dim + d] = centres[c][d] + spread * rng.normal();
    }
  }
  return { features, truth, dim };
}

/** True when `found` is `truth` up to a renaming of the clusters (a bijection). */
function samePartition(found: Int32Array, truth: Int32Array): boolean {
  const forward = new Map<number, number>();
  const backward = new Map<number, number>();
  for (let i = 0; i < found.length; i++) {
    const f = forward.get(found[i]);
    const b = backward.get(truth[i]);
    if (f === undefined && b === undefined) {
      forward.set(found[i], truth[i]);
      backward.set(truth[i], found[i]);
    } else if (f !== truth[i] || b !== found[i]) {
      return false;
    }
  }
  return true;
}

describe('kmeans', () => {
  it('recovers well-separated blobs exactly, up to a permutation of cluster ids', () => {
    const rng = new Rng(1);
    const centres = Array.from({ length: 6 }, () => Array.from({ length: 16 }, () => rng.normal(0, 10)));
    const { features, truth, dim } = blobs(centres, 50, 0.3, rng);
    const before = tf.memory().numTensors;
    const result = kmeans(features, dim, { k: 6, rng: new Rng(7), nInit: 2, chunkSize: 64 });
    expect(tf.memory().numTensors).toBe(before);
    expect(samePartition(result.assignments, truth)).toBe(true);
    // Each centroid sits at its blob's mean.
    for (let c = 0; c < 6; c++) {
      const members = [...result.assignments.keys()].filter((i) => result.assignments[i] === c);
      for (let d = 0; d < dim; d++) {
        const mean = members.reduce((s, i) => s + features[i * dim + d], 0) / members.length;
        expect(result.centroids[c * dim + d]).toBeCloseTo(mean, 4);
      }
    }
    expect(result.restartInertias).toHaveLength(2);
    expect(result.inertia).toBe(Math.min(...result.restartInertias));
    expect(clusterAgreement(result.assignments, truth)).toEqual({ purity: 1, nmi: expect.closeTo(1, 10) });
  });

  it('mini-batch mode recovers the same blobs', () => {
    const rng = new Rng(2);
    const centres = Array.from({ length: 4 }, () => Array.from({ length: 8 }, () => rng.normal(0, 10)));
    const { features, truth, dim } = blobs(centres, 100, 0.3, rng);
    const result = kmeans(features, dim, { k: 4, rng: new Rng(3), algorithm: 'mini-batch', batchSize: 64, maxIter: 100 });
    expect(samePartition(result.assignments, truth)).toBe(true);
  });

  it('reports the hand-computed inertia and centroids of a tiny case', () => {
    // Two pairs on a line: {0, 2} and {10, 14}. Centroids 1 and 12; inertia 1 + 1 + 4 + 4 = 10.
    const features = new Float32Array([0, 0, 2, 0, 10, 0, 14, 0]);
    const result = kmeans(features, 2, { k: 2, rng: new Rng(0), nInit: 3 });
    const byFirst = result.assignments[0];
    expect(result.assignments[1]).toBe(byFirst);
    expect(result.assignments[2]).toBe(1 - byFirst);
    expect(result.assignments[3]).toBe(1 - byFirst);
    expect(result.inertia).toBeCloseTo(10, 5);
    expect(result.centroids[byFirst * 2]).toBeCloseTo(1, 6);
    expect(result.centroids[(1 - byFirst) * 2]).toBeCloseTo(12, 6);
  });

  it('is deterministic for a seed and differs across seeds where the start matters', () => {
    const rng = new Rng(4);
    const features = rng.uniformArray(300 * 5);
    const a = kmeans(features, 5, { k: 7, rng: new Rng(9), nInit: 2 });
    const b = kmeans(features, 5, { k: 7, rng: new Rng(9), nInit: 2 });
    expect(Array.from(a.assignments)).toEqual(Array.from(b.assignments));
    expect(Array.from(a.centroids)).toEqual(Array.from(b.centroids));
    expect(a.inertia).toBe(b.inertia);
    const c = kmeans(features, 5, { k: 7, rng: new Rng(10), nInit: 1 });
    expect(Array.from(c.centroids)).not.toEqual(Array.from(a.centroids));
  });

  it('never leaves a cluster empty, even with duplicate rows', () => {
    const features = new Float32Array([0, 0, 0, 0, 0, 0, 5, 5, 5, 5, 9, 9]);
    const result = kmeans(features, 2, { k: 3, rng: new Rng(1) });
    expect(new Set(result.assignments).size).toBe(3);
    expect(result.inertia).toBeCloseTo(0, 6);
  });

  it('rejects bad arguments with the field named', () => {
    expect(() => kmeans(new Float32Array(6), 4, { k: 2, rng: new Rng(0) })).toThrow(/kmeans.features/);
    expect(() => kmeans(new Float32Array(4), 2, { k: 3, rng: new Rng(0) })).toThrow(/kmeans.k/);
  });

  it('clusters 60k x 512 into 10 clusters in seconds', () => {
    const rng = new Rng(5);
    const dim = 512;
    const count = 60_000;
    const centres = Array.from({ length: 10 }, () => rng.normalArray(dim, 0, 1));
    const features = new Float32Array(count * dim);
    for (let i = 0; i < count; i++) {
      const c = centres[i % 10];
      for (let d = 0; d < dim; d++) features[i * dim + d] = c[d] + 0.5 * rng.normal();
    }
    const started = performance.now();
    const result = kmeans(features, dim, { k: 10, rng: new Rng(1), maxIter: 20 });
    const seconds = (performance.now() - started) / 1000;
    const truth = Int32Array.from({ length: count }, (_, i) => i % 10);
    expect(samePartition(result.assignments, truth)).toBe(true);
    expect(seconds).toBeLessThan(15);
    // MCL upstream's setting: mini-batch, 100 steps, tol 1e-5 (k-means++ on a 3 × batch subsample).
    const miniStarted = performance.now();
    const mini = kmeans(features, dim, { k: 10, rng: new Rng(1), algorithm: 'mini-batch', maxIter: 100, tol: 1e-5 });
    expect((performance.now() - miniStarted) / 1000).toBeLessThan(15);
    expect(samePartition(mini.assignments, truth)).toBe(true);
  });
});

describe('clusterAgreement', () => {
  it('matches a hand computation', () => {
    // Clusters {0,1,2} {3,4,5} vs labels 0,0,1 | 1,1,1: purity (2 + 3) / 6.
    const agreement = clusterAgreement(Int32Array.from([0, 0, 0, 1, 1, 1]), Int32Array.from([0, 0, 1, 1, 1, 1]));
    expect(agreement.purity).toBeCloseTo(5 / 6, 10);
    // MI = Σ p log(p / (pu pv)): (2/6)log(2), (1/6)log(1/(1/2·4/6)), (3/6)log(1/(1/2·4/6)·(1/2))...
    const p = [
      [2 / 6, 0.5, 2 / 6],
      [1 / 6, 0.5, 4 / 6],
      [3 / 6, 0.5, 4 / 6],
    ];
    const mi = p.reduce((s, [pj, pu, pv]) => s + pj * Math.log(pj / (pu * pv)), 0);
    const hu = Math.log(2);
    const hv = -(2 / 6) * Math.log(2 / 6) - (4 / 6) * Math.log(4 / 6);
    expect(agreement.nmi).toBeCloseTo((2 * mi) / (hu + hv), 10);
  });
});

describe('pairProbe', () => {
  /** A dataset of 1x1x2 images with given pixel values. */
  function pixels(values: number[][], name: string): Dataset {
    return {
      info: { name, size: values.length, imageShape: [1, 1, 2] },
      read: async (indices) => {
        const rows = Array.from(indices, (i) => values[i]);
        return { images: tf.tensor4d(rows.flat(), [rows.length, 1, 1, 2]), indices: Int32Array.from(indices) };
      },
    };
  }
  const identity: FeatureExtractor = { featureDim: 2, embed: (x: Tensor4D) => tf.reshape(x, [x.shape[0], 2]) as Tensor2D };
  const firstOnly: FeatureExtractor = {
    featureDim: 2,
    embed: (x: Tensor4D) => tf.tidy(() => tf.concat([tf.reshape(tf.slice(x, [0, 0, 0, 0], [-1, 1, 1, 1]), [-1, 1]), tf.ones([x.shape[0], 1])], 1)) as Tensor2D,
  };

  it('passes a pair only when both queries pick their own member; a blind encoder scores 0', async () => {
    // Pairs differ in the second pixel only. Pair 1's query B is closer to A: pair fails, 3 of 4 queries pass.
    const members: [Dataset, Dataset] = [pixels([[1, 0.1], [1, 0.1]], 'a'), pixels([[1, 1], [1, 1]], 'b')];
    const queries: [Dataset, Dataset] = [pixels([[1, 0.2], [1, 0.2]], 'qa'), pixels([[1, 0.9], [1, 0.2]], 'qb')];
    const seen = await pairProbe(identity, { members, queries });
    expect(seen).toEqual({ pairAccuracy: 0.5, queryAccuracy: 0.75, pairs: 2 });
    const blind = await pairProbe(firstOnly, { members, queries });
    expect(blind.pairAccuracy).toBe(0);
  });
});
