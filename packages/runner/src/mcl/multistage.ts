import { join } from 'node:path';
import {
  type Augmentation,
  type Dataset,
  EventBus,
  type FeatureExtractor,
  GenviewError,
  type PluginRef,
  type Registry,
  Rng,
} from '@genview/core';
import { type KMeansResult, extractFeatures, kmeans, normaliseRows } from '@genview/eval';
import { type MclFramework, isMclFramework } from '../frameworks/mcl';
import type { OptimizerConfigInput } from '../optim';
import { createRegistry } from '../registry';
import { type TrainSummary, Trainer } from '../trainer/trainer';
import { integratedEncoder } from './integrate';
import { accumulatePseudoLabels } from './pseudo-labels';
import { PseudoLabelBatchOrder } from './sampler';

export interface MultistageClustering {
  /** Clusters per stage (MCL upstream: 10). */
  k?: number;
  nInit?: number;
  /** MCL upstream: 100 iterations, tol 1e-5, mini-batch k-means. */
  maxIter?: number;
  tol?: number;
  algorithm?: 'lloyd' | 'mini-batch';
}

export interface MultistageOptions {
  /** The training set: trained on at every stage and clustered after each. */
  data: Dataset;
  /** An mcl framework reference ({ name: 'mcl', inner, negatives }) or an inner framework to wrap with the mask. */
  framework: PluginRef;
  /** One augmentation pipeline per view. */
  views: Augmentation[];
  /** Number of stages S, stage 0 (ordinary training) included. */
  stages: number;
  /** Training steps per stage (one number for all, or one per stage). */
  stepsPerStage: number | number[];
  batchSize: number;
  optimizer: OptimizerConfigInput;
  /** Learning rate at a step of a stage with `totalSteps` steps. */
  learningRate: (step: number, totalSteps: number) => number;
  seed: number;
  clustering?: MultistageClustering;
  gradClipNorm?: number;
  /** Images per encoder call when embedding the training set. */
  embedBatchSize?: number;
  registry?: Registry;
  events?: EventBus;
  /** Each stage's checkpoints and metrics go to <outDir>/stage-<s>. */
  outDir?: string;
  /** Called after each stage is trained (and clustered, if it is not the last): e.g. per-stage evaluation. */
  onStage?: (stage: MultistageStage) => Promise<void> | void;
}

export interface MultistageStage {
  stage: number;
  framework: MclFramework;
  /** The stage's frozen encoder (valid until the result is disposed). */
  encoder: FeatureExtractor;
  summary: TrainSummary;
  /** The pseudo labels this stage trained with (undefined for stage 0). */
  trainedWith?: Int32Array;
  /** k-means of this stage's L2-normalised training-set features (not run after the last stage). */
  clustering?: KMeansResult;
  /** Joint pseudo labels after this stage's clusters were added. */
  pseudoLabels?: Int32Array;
}

export interface MultistageResult {
  stages: MultistageStage[];
  /** The concatenation of every stage's L2-normalised features, re-normalised: MCL's final representation. */
  integrated: FeatureExtractor;
  /** Disposes every stage's framework (their encoders stop working). */
  dispose(): void;
}

/**
 * Multistage contrastive learning (MCL): for each stage, build a fresh model from the same starting
 * point, train it with the Trainer (negatives restricted to the pseudo label of the previous stages),
 * embed the training set (L2-normalised), cluster it with k-means, and add the clusters to the pseudo
 * labels. The result exposes every stage's encoder and their integration.
 */
export async function runMultistage(options: MultistageOptions): Promise<MultistageResult> {
  const { data, views, stages, batchSize, seed } = options;
  const registry = options.registry ?? createRegistry();
  const events = options.events ?? new EventBus();
  if (!(Number.isInteger(stages) && stages >= 1)) {
    throw new GenviewError('INVALID_CONFIG', `stages must be a positive integer, got ${stages}.`, { where: 'mcl.stages' });
  }
  const steps = typeof options.stepsPerStage === 'number' ? Array.from({ length: stages }, () => options.stepsPerStage as number) : options.stepsPerStage;
  if (steps.length !== stages || steps.some((s) => !(Number.isInteger(s) && s >= 1))) {
    throw new GenviewError('INVALID_CONFIG', `stepsPerStage must be a positive integer or one per stage (${stages}), got ${JSON.stringify(options.stepsPerStage)}.`, {
      where: 'mcl.stepsPerStage',
    });
  }
  const clustering = { k: 10, nInit: 1, maxIter: 100, tol: 1e-5, algorithm: 'mini-batch' as const, ...options.clustering };
  const ref = mclRef(registry, options.framework, data.info.imageShape);
  const done: MultistageStage[] = [];
  let pseudoLabels: Int32Array | undefined;
  try {
    for (let stage = 0; stage < stages; stage++) {
      // The same rng fork every stage: each stage starts from identical weights (upstream re-loads the
      // same pretrained model), so stages differ only by their negatives.
      const created = await registry.create('framework', ref, { rng: new Rng(seed).fork('framework'), events, path: 'framework' });
      if (!isMclFramework(created)) {
        created.dispose();
        throw new GenviewError('INTERNAL', 'the mcl plugin did not return an MCL framework.');
      }
      const framework = created;
      framework.setPseudoLabels(pseudoLabels);
      const totalSteps = steps[stage];
      const order = pseudoLabels && framework.negatives === 'sampler' ? new PseudoLabelBatchOrder(seed + stage, pseudoLabels, batchSize) : undefined;
      const trainer = new Trainer({
        framework,
        data,
        views,
        optimizer: options.optimizer,
        learningRate: (step) => options.learningRate(step, totalSteps),
        totalSteps,
        batchSize,
        seed,
        order,
        gradClipNorm: options.gradClipNorm,
        events,
        outDir: options.outDir ? join(options.outDir, `stage-${stage}`) : undefined,
      });
      events.log('mcl', `stage ${stage + 1}/${stages}: ${totalSteps} steps, ${pseudoLabels ? `${countDistinct(pseudoLabels)} pseudo labels (${framework.negatives})` : 'no pseudo labels'}`);
      let summary: TrainSummary;
      try {
        summary = await trainer.run();
      } finally {
        trainer.dispose();
      }
      const record: MultistageStage = { stage, framework, encoder: framework.encoder(), summary, trainedWith: pseudoLabels };
      done.push(record);
      if (stage < stages - 1) {
        const set = await extractFeatures(record.encoder, data, { batchSize: options.embedBatchSize ?? 256, events, task: `mcl stage ${stage + 1}: embed` });
        record.clustering = kmeans(normaliseRows(set.features, set.dim), set.dim, { ...clustering, rng: new Rng(seed).fork(`kmeans-stage-${stage}`) });
        pseudoLabels = accumulatePseudoLabels(pseudoLabels, record.clustering.assignments, clustering.k);
        record.pseudoLabels = pseudoLabels;
      }
      await options.onStage?.(record);
    }
  } catch (error) {
    for (const s of done) s.framework.dispose();
    throw error;
  }
  return {
    stages: done,
    integrated: integratedEncoder(done.map((s) => s.encoder)),
    dispose: () => {
      for (const s of done) s.framework.dispose();
    },
  };
}

function countDistinct(labels: Int32Array): number {
  return new Set(labels).size;
}

/** An mcl reference with the input shape filled in; a non-mcl framework becomes mcl's inner framework. */
function mclRef(registry: Registry, framework: PluginRef, shape: [number, number, number]): PluginRef {
  const options: Record<string, unknown> & { name: string } = typeof framework === 'string' ? { name: framework } : { ...framework };
  const plugin = registry.resolve('framework', options.name, 'framework');
  const wrapped = plugin.name === 'mcl' ? options : { name: 'mcl', inner: options };
  if (wrapped.inputShape === undefined) wrapped.inputShape = shape;
  return wrapped;
}
