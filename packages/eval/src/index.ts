import type { AnyPlugin } from '@genview/core';
import { kmeansPurityPlugin } from './clustering/kmeans-purity';
import { alignUniformPlugin } from './evaluators/align-uniform';
import { knnPlugin } from './evaluators/knn';
import { linearProbePlugin } from './evaluators/linear-probe';
import { retrievalPlugin } from './evaluators/retrieval';
import { semiSupervisedPlugin } from './evaluators/semi-supervised';
import { zeroShotPlugin } from './evaluators/zero-shot';

export { cachedFeatures, extractFeatures, rawPixelFeatures, type ExtractOptions, type FeatureSet } from './features';
export { knnClassify, knnPlugin, type KnnAccuracy, type KnnInput } from './evaluators/knn';
export {
  LINEAR_PROBE_DEFAULTS,
  linearProbe,
  linearProbePlugin,
  type LinearProbeInput,
  type LinearProbeOptions,
  type LinearProbeResult,
} from './evaluators/linear-probe';
export { balancedSubset, semiSupervisedPlugin, semiSupervisedProbe, type SemiSupervisedResult } from './evaluators/semi-supervised';
export { kmeans, type KMeansOptions, type KMeansResult } from './clustering/kmeans';
export { clusterAgreement, kmeansPurityPlugin, normaliseRows, type ClusterAgreement } from './clustering/kmeans-purity';
export { pairProbe, type PairProbeInput, type PairProbeResult } from './pair-probe';
export {
  DEFAULT_ZERO_SHOT_TEMPLATES,
  zeroShotClassify,
  zeroShotPlugin,
  type ZeroShotAccuracy,
  type ZeroShotInput,
} from './evaluators/zero-shot';
export { retrievalPlugin, retrievalRecall, type RetrievalInput, type RetrievalRecall } from './evaluators/retrieval';
export { alignUniformPlugin, alignmentUniformity, type AlignUniform, type AlignUniformOptions } from './evaluators/align-uniform';

/** Every evaluator in this package, for `registry.register(plugins)`. */
export const plugins: readonly AnyPlugin[] = [
  knnPlugin,
  linearProbePlugin,
  semiSupervisedPlugin,
  alignUniformPlugin,
  kmeansPurityPlugin,
  zeroShotPlugin,
  retrievalPlugin,
];
