import { type Dataset, type EventBus, type FeatureExtractor, GenviewError } from '@genview/core';
import { extractFeatures } from './features';
import { normaliseRows } from './clustering/kmeans-purity';

export interface PairProbeInput {
  /** Row i of members[0] and row i of members[1] form pair i: two images that differ in one feature. */
  members: [Dataset, Dataset];
  /** Another rendering of each member (e.g. a new pose), row-aligned with members: what must be matched. */
  queries: [Dataset, Dataset];
  batchSize?: number;
  events?: EventBus;
}

export interface PairProbeResult {
  /** MMVP rule: share of pairs where both queries are closer to their own member than to the other. */
  pairAccuracy: number;
  /** Share of single queries matched to their own member (chance 0.5). */
  queryAccuracy: number;
  pairs: number;
}

/**
 * An MMVP-style probe (Tong et al. 2024) for encoders without text: each pair holds two images that
 * differ in one feature only; a query re-renders each member. The encoder passes a pair when cosine
 * similarity ranks the right member closest for both queries (a pair counts only if both match, as MMVP
 * scores its two statements). Ties fail: an encoder blind to the feature cannot pass by luck.
 */
export async function pairProbe(encoder: FeatureExtractor, input: PairProbeInput): Promise<PairProbeResult> {
  const sizes = [...input.members, ...input.queries].map((d) => d.info.size);
  if (sizes.some((s) => s !== sizes[0]) || sizes[0] === 0) {
    throw new GenviewError('BAD_INPUT', `members and queries must have the same non-zero size, got ${sizes.join(', ')}.`, {
      where: 'pairProbe',
      fix: 'row i of every dataset must belong to pair i.',
    });
  }
  const options = { batchSize: input.batchSize ?? 256, events: input.events };
  const [a, b, qa, qb] = await Promise.all(
    [...input.members, ...input.queries].map(async (d) => {
      const set = await extractFeatures(encoder, d, { ...options, task: `pair probe: embed ${d.info.name}` });
      return normaliseRows(set.features, set.dim);
    }),
  );
  const dim = encoder.featureDim;
  const n = sizes[0];
  const dot = (x: Float32Array, y: Float32Array, i: number) => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[i * dim + d] * y[i * dim + d];
    return s;
  };
  let pairHits = 0;
  let queryHits = 0;
  for (let i = 0; i < n; i++) {
    const okA = dot(qa, a, i) > dot(qa, b, i);
    const okB = dot(qb, b, i) > dot(qb, a, i);
    queryHits += Number(okA) + Number(okB);
    if (okA && okB) pairHits++;
  }
  return { pairAccuracy: pairHits / n, queryAccuracy: queryHits / (2 * n), pairs: n };
}
