import { type EvalResult, GenviewError, definePlugin, z } from '@genview/core';
import { countClasses, labelledFeatures } from '../features';
import { kmeans } from './kmeans';

export interface ClusterAgreement {
  /** Share of rows whose cluster's majority class is their own class. */
  purity: number;
  /** Normalised mutual information (arithmetic-mean normalisation, as scikit-learn's default). */
  nmi: number;
}

/** Purity and NMI of a clustering against class labels. */
export function clusterAgreement(assignments: Int32Array, labels: Int32Array): ClusterAgreement {
  const n = assignments.length;
  if (n === 0 || labels.length !== n) {
    throw new GenviewError('BAD_SHAPE', `need one label per assignment, got ${labels.length} labels for ${n} assignments.`, { where: 'clusterAgreement' });
  }
  const joint = new Map<string, number>();
  const byCluster = new Map<number, number>();
  const byClass = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const key = `${assignments[i]}:${labels[i]}`;
    joint.set(key, (joint.get(key) ?? 0) + 1);
    byCluster.set(assignments[i], (byCluster.get(assignments[i]) ?? 0) + 1);
    byClass.set(labels[i], (byClass.get(labels[i]) ?? 0) + 1);
  }
  const majority = new Map<number, number>();
  let mi = 0;
  for (const [key, count] of joint) {
    const [cluster, label] = key.split(':').map(Number);
    majority.set(cluster, Math.max(majority.get(cluster) ?? 0, count));
    mi += (count / n) * Math.log((count * n) / (byCluster.get(cluster)! * byClass.get(label)!));
  }
  const entropy = (counts: Map<number, number>) => {
    let h = 0;
    for (const c of counts.values()) h -= (c / n) * Math.log(c / n);
    return h;
  };
  const hu = entropy(byCluster);
  const hv = entropy(byClass);
  let purity = 0;
  for (const m of majority.values()) purity += m;
  // Both partitions trivial (one block each): they agree perfectly.
  const nmi = hu + hv > 0 ? (2 * mi) / (hu + hv) : 1;
  return { purity: purity / n, nmi: Math.max(0, Math.min(1, nmi)) };
}

export const kmeansPurityPlugin = definePlugin({
  kind: 'evaluator',
  name: 'kmeans-purity',
  package: '@genview/eval',
  description: 'k-means (k-means++ start, restarts) on L2-normalised frozen test features; purity and NMI against the class labels.',
  configSchema: z
    .object({
      /** Clusters; default: the number of classes. */
      k: z.number().int().positive().optional(),
      nInit: z.number().int().positive().default(3),
      maxIter: z.number().int().positive().default(100),
      tol: z.number().min(0).default(1e-5),
      batchSize: z.number().int().positive().default(256),
      limitTest: z.number().int().positive().optional(),
    })
    .strict(),
  create: (config, context) => ({
    name: 'kmeans-purity',
    async evaluate(encoder, data): Promise<EvalResult> {
      const test = await labelledFeatures(encoder, data.test, 'test', 'kmeans-purity', {
        rng: context.rng,
        batchSize: config.batchSize,
        events: context.events,
        limit: config.limitTest,
      });
      const { features, dim } = test.set;
      const normalised = normaliseRows(features, dim);
      const k = config.k ?? countClasses(data, test.labels);
      const result = kmeans(normalised, dim, { k, rng: context.rng.fork('kmeans'), nInit: config.nInit, maxIter: config.maxIter, tol: config.tol });
      const agreement = clusterAgreement(result.assignments, test.labels);
      return {
        evaluator: 'kmeans-purity',
        metrics: { purity: agreement.purity, nmi: agreement.nmi, inertia: result.inertia },
        description:
          `k-means (k=${k}, k-means++ start, best of ${config.nInit} restarts, ≤${config.maxIter} Lloyd iterations) on L2-normalised frozen ` +
          `features (D=${dim}) of test ${data.test.info.name} n=${test.labels.length}; purity and NMI against its labels`,
      };
    },
  }),
});

/** Copies rows scaled to unit L2 norm (zero rows stay zero). */
export function normaliseRows(features: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(features.length);
  for (let start = 0; start < features.length; start += dim) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += features[start + d] ** 2;
    const scale = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let d = 0; d < dim; d++) out[start + d] = features[start + d] * scale;
  }
  return out;
}
