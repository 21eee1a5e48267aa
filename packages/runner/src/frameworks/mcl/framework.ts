import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  type DatasetInfo,
  type FeatureExtractor,
  type Framework,
  type FrameworkStages,
  GenviewError,
  type PluginContext,
  type PluginRef,
  type PluginRefConfig,
  Rng,
  type Scalar,
  type StageInfo,
  type ViewBatch,
  definePlugin,
  inputShapeSchema,
  pluginRefSchema,
  tf,
  writeFileAtomic,
  z,
} from '@genview/core';
import { type KMeansResult, extractFeatures, kmeans, normaliseRows } from '@genview/eval';
import { checkIntegrationWeights, integratedEncoder } from './integrate';
import { accumulatePseudoLabels, negativeMaskFromLabels } from './pseudo-labels';
import { GroupedBatchOrder, PseudoLabelBatchOrder } from './sampler';
import { MCL_CLUSTERING_DEFAULTS, type MclClustering, checkStagePlan, mclClusteringSchema, mclStageSteps, stepsPerStageSchema } from './settings';

/** The mcl framework's instance: its inner framework plus the pseudo labels that restrict negatives. */
export interface MclFramework extends Framework {
  readonly negatives: MclNegatives;
  /** Per-sample pseudo labels over the training set (index order); undefined = ordinary training (stage 0). */
  setPseudoLabels(labels: Int32Array | undefined): void;
  pseudoLabels(): Int32Array | undefined;
  readonly inner: Framework;
}

/**
 * mask: mixed batches, negatives restricted by a pseudo-label mask; sampler: one-label batches (upstream),
 * labels smaller than a batch skipped; grouped: batches cut from a label-by-label order (one or two labels
 * each, no sample skipped) with the mask on top.
 */
export type MclNegatives = 'mask' | 'sampler' | 'grouped';

export function isMclFramework(framework: Framework): framework is MclFramework {
  return typeof (framework as Partial<MclFramework>).setPseudoLabels === 'function';
}

/** What one MCL stage hands the next: the joint pseudo labels after its clustering, and that clustering. */
export interface MclCarry {
  pseudoLabels: Int32Array;
  clustering: KMeansResult;
}

/** What <outDir>/stage-<s>/pseudo-labels.json holds: one stage's k-means and the joint pseudo labels after it. */
export interface PseudoLabelFile {
  /** 1-based, as in the directory name. */
  stage: number;
  k: number;
  /** Training-set size (labels are in dataset index order). */
  samples: number;
  /** Sum of squared distances of the L2-normalised features to their centroid. */
  inertia: number;
  iterations: number;
  restartInertias: number[];
  /** This stage's cluster of every sample, in [0, k). */
  clusters: number[];
  /** Joint pseudo label of every sample after this stage (same label = same cluster at every stage so far). */
  pseudoLabels: number[];
  /** Distinct joint pseudo labels. */
  distinctPseudoLabels: number;
}

export const PSEUDO_LABEL_FILE = 'pseudo-labels.json';

const mclConfigSchema = z
  .object({
    inputShape: inputShapeSchema.optional(),
    inner: pluginRefSchema.default('simclr'),
    /** See MclNegatives. */
    negatives: z.enum(['mask', 'sampler', 'grouped']).default('mask'),
    /** Number of stages S, the first (ordinary training, no pseudo labels) included. */
    stages: z.number().int().min(1).default(3),
    /** Steps of every stage, or one number per stage; default: the run's budget split evenly. */
    stepsPerStage: stepsPerStageSchema.optional(),
    clustering: mclClusteringSchema.default({ ...MCL_CLUSTERING_DEFAULTS }),
    /** Images per encoder call when embedding the training set for k-means. */
    embedBatchSize: z.number().int().positive().default(256),
    /**
     * How the stages' features are joined. weights: one per stage, each stage's L2-normalised features
     * scaled by it before the concatenation; left out, every stage weighs the same (upstream). No
     * default in the schema, so configs without it hash as before.
     */
    integration: z.object({ weights: z.array(z.number().nonnegative()).nonempty().optional() }).strict().optional(),
  })
  .strict();

type MclConfig = z.output<typeof mclConfigSchema>;

/**
 * MCL (multistage contrastive learning, METHODS.md section 3) as a framework with stages. Each stage
 * wraps a fresh inner InfoNCE-style framework, built from the same starting point, and restricts each
 * anchor's negatives to samples that share its pseudo label (its cluster at every earlier stage). With
 * negatives: 'mask' the batch is mixed and the inner loss gets ViewBatch.negativeMask built from the
 * batch's pseudo labels; with 'sampler' every batch holds one label (upstream's sampler, the stage's
 * batch order), so no mask is needed. In both, ViewBatch.negativeGroups carries the batch's labels, so
 * frameworks that keep negatives across steps (MoCo's queue) restrict those too. After every stage but
 * the last, the training set is embedded (L2-normalised) and clustered with k-means, and the clusters
 * join the pseudo labels. The run's encoder integrates every stage's (integratedEncoder). The instance
 * create() returns is the first stage; trained alone (a Trainer with no stage host) it is plain training.
 */
export const mcl = definePlugin({
  kind: 'framework',
  name: 'mcl',
  package: '@genview/runner',
  description: "MCL: stages of an inner InfoNCE framework, each restricting negatives to the anchor's pseudo label (k-means of the earlier stages); the stages' features are integrated.",
  configSchema: mclConfigSchema,
  async create(config, context) {
    const given = config.inner as PluginRefConfig;
    const innerRef: Record<string, unknown> & { name: string } = typeof given === 'string' ? { name: given } : { ...(given as { name: string }) };
    if (innerRef.name === 'mcl') {
      throw new GenviewError('INVALID_CONFIG', 'mcl cannot wrap itself.', { where: `${context.path}.inner`, fix: 'name an InfoNCE-style framework, e.g. simclr.' });
    }
    checkStagePlan(config, context.path);
    const weights = config.integration?.weights;
    if (weights) checkIntegrationWeights(weights, config.stages, `${context.path}.integration.weights`);
    const innerSchema = context.registry.resolve('framework', innerRef.name, `${context.path}.inner`).configSchema as { shape?: Record<string, unknown> };
    if (config.inputShape && innerSchema.shape && 'inputShape' in innerSchema.shape && innerRef.inputShape === undefined) innerRef.inputShape = config.inputShape;
    // Every stage is built from the same stream, so each starts from identical weights (upstream re-loads
    // the same pretrained model) and stages differ only by their negatives.
    const stageRng = context.rng.fork(context.path);
    const build = async (labels: Int32Array | undefined): Promise<MclFramework> => {
      const inner = await context.registry.create('framework', innerRef as PluginRef, { rng: stageRng, events: context.events, services: context.services, path: `${context.path}.inner` });
      const stage = mclStage(config, context, inner);
      stage.setPseudoLabels(labels);
      return stage;
    };
    const first = await build(undefined);
    return { ...first, stages: mclStages(config, context, build) } satisfies MclFramework;
  },
});

/** One stage's framework around a built inner framework. */
function mclStage(config: MclConfig, context: PluginContext, inner: Framework): MclFramework {
  let labels: Int32Array | undefined;

  /** The batch's pseudo labels, or undefined while there are none (stage 0). */
  const batchLabels = (batch: ViewBatch): Int32Array | undefined => {
    if (!labels) return undefined;
    return Int32Array.from(batch.indices, (i) => {
      const label = labels![i];
      if (label === undefined) {
        throw new GenviewError('BAD_INPUT', `sample ${i} has no pseudo label (labels cover ${labels!.length} samples).`, {
          where: `${context.path}.pseudoLabels`,
          fix: 'set pseudo labels for the dataset the trainer reads.',
        });
      }
      return label;
    });
  };

  // The labels go on the batch as negativeGroups in both modes: one-label batches (sampler) need no
  // batch mask, but a queue of past keys (MoCo) still holds other labels' keys.
  const restrict = (batch: ViewBatch): ViewBatch => {
    const groups = batchLabels(batch);
    if (!groups) return batch;
    if (batch.negativeGroups) {
      throw new GenviewError('INVALID_CONFIG', 'the batch already has negative groups; mcl cannot combine two groupings.', {
        where: context.path,
        fix: 'restrict negatives in one place only.',
      });
    }
    if (config.negatives === 'sampler') return { ...batch, negativeGroups: groups };
    const mask = negativeMaskFromLabels(groups);
    if (!batch.negativeMask) return { ...batch, negativeMask: mask, negativeGroups: groups };
    // Someone upstream restricted batch negatives too: a pair must pass both.
    const both = tf.mul(mask, batch.negativeMask) as tf.Tensor2D;
    mask.dispose();
    return { ...batch, negativeMask: both, negativeGroups: groups };
  };

  return {
    name: 'mcl',
    negatives: config.negatives,
    inner,
    setPseudoLabels: (next) => {
      labels = next ? Int32Array.from(next) : undefined;
    },
    pseudoLabels: () => labels,
    trainableModules: () => inner.trainableModules(),
    stateModules: () => inner.stateModules(),
    loss: (batch, step) => tf.tidy(() => inner.loss(restrict(batch), step) as Scalar),
    ...(inner.afterStep ? { afterStep: (batch: ViewBatch, step: number, total: number) => inner.afterStep!(batch, step, total) } : {}),
    encoder: () => inner.encoder(),
    dispose: () => inner.dispose(),
  };
}

/** MCL's stage lifecycle: budget split, pseudo labels from k-means after each stage, integration. */
function mclStages(config: MclConfig, context: PluginContext, build: (labels: Int32Array | undefined) => Promise<MclFramework>): FrameworkStages<MclCarry> {
  const clustering: MclClustering = config.clustering;
  return {
    count: config.stages,
    settings: { negatives: config.negatives, clustering },
    stepsPerStage(totalSteps: number, data: DatasetInfo): number[] {
      if (config.stages > 1 && clustering.k > data.size) {
        throw new GenviewError('INVALID_CONFIG', `k-means with k = ${clustering.k} needs at least ${clustering.k} training images, the run trains on ${data.size}.`, {
          where: `${context.path}.clustering.k`,
          fix: `use k ≤ ${data.size}, or train on more images.`,
        });
      }
      return mclStageSteps(config, totalSteps, context.path);
    },
    async nextStage(stage: StageInfo, _finished, carried): Promise<Framework> {
      if (carried) {
        context.events.log('mcl', `stage ${stage.index + 1}/${stage.count}: ${countDistinct(carried.pseudoLabels)} pseudo labels (${config.negatives})`);
      }
      return build(carried?.pseudoLabels);
    },
    batchOrder: (stage, carried, batchSize) => {
      if (!carried || config.negatives === 'mask') return undefined;
      return config.negatives === 'sampler'
        ? new PseudoLabelBatchOrder(stage.seed + stage.index, carried.pseudoLabels, batchSize)
        : new GroupedBatchOrder(stage.seed + stage.index, carried.pseudoLabels, batchSize);
    },
    stageDetails: (_stage, carried) => ({ trainedWithPseudoLabels: carried ? countDistinct(carried.pseudoLabels) : null }),
    async finishStage(stage, run, carried) {
      const { index, count, seed, dir } = stage.info;
      const set = await extractFeatures(stage.framework.encoder(), run.data, { batchSize: config.embedBatchSize, events: run.events, task: `mcl stage ${index + 1}: embed` });
      const result = kmeans(normaliseRows(set.features, set.dim), set.dim, { ...clustering, rng: new Rng(seed).fork(`kmeans-stage-${index}`) });
      const pseudoLabels = accumulatePseudoLabels(carried?.pseudoLabels, result.assignments, clustering.k);
      const distinct = countDistinct(pseudoLabels);
      run.events.log('mcl', `stage ${index + 1}/${count}: k-means inertia ${result.inertia.toPrecision(6)}, ${distinct} pseudo labels`);
      const kmeansDetails: Record<string, unknown> = { k: result.k, inertia: result.inertia, iterations: result.iterations, pseudoLabels: distinct };
      if (dir) {
        await savePseudoLabels(dir, index, result, pseudoLabels);
        kmeansDetails.file = join(basename(dir), PSEUDO_LABEL_FILE);
      }
      return {
        carry: { pseudoLabels, clustering: result },
        details: { kmeans: kmeansDetails },
        metrics: { inertia: result.inertia, pseudoLabels: distinct, iterations: result.iterations },
      };
    },
    integrate: (encoders: readonly FeatureExtractor[]) => integratedEncoder(encoders, config.integration?.weights, `${context.path}.integration.weights`),
  };
}

async function savePseudoLabels(dir: string, stage: number, result: KMeansResult, pseudoLabels: Int32Array): Promise<void> {
  const file: PseudoLabelFile = {
    stage: stage + 1,
    k: result.k,
    samples: pseudoLabels.length,
    inertia: result.inertia,
    iterations: result.iterations,
    restartInertias: result.restartInertias,
    clusters: Array.from(result.assignments),
    pseudoLabels: Array.from(pseudoLabels),
    distinctPseudoLabels: countDistinct(pseudoLabels),
  };
  mkdirSync(dir, { recursive: true });
  await writeFileAtomic(join(dir, PSEUDO_LABEL_FILE), `${JSON.stringify(file)}\n`);
}

function countDistinct(labels: Int32Array): number {
  return new Set(labels).size;
}
