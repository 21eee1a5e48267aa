import { GenviewError, type Tensor2D, tf } from '@genview/core';

/**
 * Adds one stage's clusters to the pseudo-label history: joint id = previous id · K + cluster, so two
 * samples share a pseudo label only if they shared a cluster at every stage so far. Each stage's own
 * labels enter exactly once (MCL upstream's combining loop re-reads the current stage's labels at every
 * step, which loses the earlier stages; this does not). Without a previous id the clusters are the labels.
 * When ids would leave the int32 range they are renumbered densely (same partition, smaller numbers).
 */
export function accumulatePseudoLabels(previous: Int32Array | undefined, clusters: Int32Array, k: number): Int32Array {
  if (!(Number.isInteger(k) && k >= 1)) throw new GenviewError('BAD_INPUT', `k must be a positive integer, got ${k}.`, { where: 'mcl.k' });
  if (previous && previous.length !== clusters.length) {
    throw new GenviewError('BAD_SHAPE', `the previous pseudo labels cover ${previous.length} samples, this stage's clusters ${clusters.length}.`, {
      where: 'mcl.pseudoLabels',
      fix: 'cluster the same training set, in the same order, at every stage.',
    });
  }
  let max = 0;
  for (let i = 0; i < clusters.length; i++) {
    const c = clusters[i];
    if (!(Number.isInteger(c) && c >= 0 && c < k)) {
      throw new GenviewError('BAD_INPUT', `cluster ${i} is ${c}, outside [0, ${k}).`, { where: 'mcl.clusters' });
    }
    if (previous && previous[i] > max) max = previous[i];
  }
  if (!previous) return Int32Array.from(clusters);
  const base = max + 1 > 2 ** 31 / k ? denseRanks(previous) : previous;
  const out = new Int32Array(clusters.length);
  for (let i = 0; i < clusters.length; i++) out[i] = base[i] * k + clusters[i];
  return out;
}

/** The joint pseudo labels of a whole history of per-stage clusters (oldest first). */
export function jointPseudoLabels(history: readonly Int32Array[], k: number): Int32Array {
  if (history.length === 0) throw new GenviewError('BAD_INPUT', 'no stage has been clustered yet.', { where: 'mcl.history' });
  let labels: Int32Array | undefined;
  for (const clusters of history) labels = accumulatePseudoLabels(labels, clusters, k);
  return labels!;
}

/** Labels renumbered 0, 1, 2... in order of first appearance. */
export function denseRanks(labels: Int32Array): Int32Array {
  const ids = new Map<number, number>();
  return Int32Array.from(labels, (l) => {
    let id = ids.get(l);
    if (id === undefined) {
      id = ids.size;
      ids.set(l, id);
    }
    return id;
  });
}

/**
 * The [N, N] negatives mask of a batch: 1 where samples i and j share a pseudo label (j may serve as a
 * negative for anchor i), else 0. The diagonal is 1; losses exclude self-pairs and force positives in.
 */
export function negativeMaskFromLabels(labels: ArrayLike<number>): Tensor2D {
  const n = labels.length;
  const mask = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) mask[i * n + j] = labels[i] === labels[j] ? 1 : 0;
  return tf.tensor2d(mask, [n, n]);
}
