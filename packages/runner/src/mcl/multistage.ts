import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Augmentation,
  type Dataset,
  EventBus,
  type FeatureExtractor,
  type Framework,
  GenviewError,
  type PluginRef,
  type PluginServices,
  type Registry,
  Rng,
  writeFileAtomic,
} from '@genview/core';
import { type KMeansResult, extractFeatures, kmeans, normaliseRows } from '@genview/eval';
import { type MclFramework, isMclFramework } from '../frameworks/mcl';
import type { OptimizerConfigInput } from '../optim';
import { createRegistry } from '../registry';
import { withoutInitialWeights } from '../run/framework-ref';
import { loadModelState } from '../trainer/checkpoint';
import { namespacedVariables } from '../trainer/named-variables';
import { type TrainSummary, Trainer, type TrainerOptions, TrainingInterrupted } from '../trainer/trainer';
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
  /**
   * Each stage's checkpoints and metrics go to <outDir>/stage-<s> (s = 1..S, see stageDir), and each
   * clustered stage's pseudo labels to <outDir>/stage-<s>/pseudo-labels.json (see PseudoLabelFile).
   */
  outDir?: string;
  /**
   * Continue an interrupted run in outDir: a stage whose checkpoint is at its last step is not trained
   * again (its weights are loaded), one stopped mid-stage continues from its checkpoint exactly, and one
   * without a checkpoint trains from the start (the first stage must have one). Clustering is recomputed
   * from the loaded weights with the same seeds, so pseudo labels equal an uninterrupted run's.
   */
  resume?: boolean;
  /** Services for the frameworks (e.g. a tokenizer for captions). */
  services?: PluginServices;
  /** Trainer settings shared by every stage (checkpoint cadence, logging, generated views, quality weights...). */
  trainer?: Pick<TrainerOptions, 'checkpointEvery' | 'logEvery' | 'backend' | 'configHash' | 'generated' | 'quality' | 'stop'>;
  /** A monitoring evaluation for each stage's trainer, built for that stage's framework. */
  monitor?: (framework: MclFramework) => TrainerOptions['monitor'];
  /** Called after each stage is trained (and clustered, if it is not the last): e.g. per-stage evaluation. */
  onStage?: (stage: MultistageStage) => Promise<void> | void;
}

export interface MultistageStage {
  /** 0-based index; logs, evaluation names and the directory (stage-<stage + 1>) count from 1. */
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

/** The directory of stage `stage` (0-based index) of a multistage run: <outDir>/stage-<stage + 1>. */
export function stageDir(outDir: string, stage: number): string {
  return join(outDir, `stage-${stage + 1}`);
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
  if (options.resume && !options.outDir) {
    throw new GenviewError('INVALID_CONFIG', 'resuming a multistage run needs the outDir it wrote its stages to.', { where: 'mcl.outDir', fix: 'pass outDir.' });
  }
  const ref = mclFrameworkRef(registry, options.framework, data.info.imageShape);
  const done: MultistageStage[] = [];
  let pseudoLabels: Int32Array | undefined;
  try {
    for (let stage = 0; stage < stages; stage++) {
      const framework = await createStageFramework(registry, ref, seed, events, options.services);
      framework.setPseudoLabels(pseudoLabels);
      const totalSteps = steps[stage];
      const dir = options.outDir ? stageDir(options.outDir, stage) : undefined;
      let summary: TrainSummary;
      try {
        const order = pseudoLabels && framework.negatives === 'sampler' ? new PseudoLabelBatchOrder(seed + stage, pseudoLabels, batchSize) : undefined;
        const trainer = new Trainer({
          ...options.trainer,
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
          monitor: options.monitor?.(framework),
          outDir: dir,
        });
        try {
          // A stage that never wrote a checkpoint starts over, which is exact (everything derives from seed and step);
          // the first stage must have one, as a single-stage resume must.
          if (options.resume && (stage === 0 || trainer.canResume())) trainer.resume();
          events.log(
            'mcl',
            `stage ${stage + 1}/${stages}: ${totalSteps} steps, ${pseudoLabels ? `${countDistinct(pseudoLabels)} pseudo labels (${framework.negatives})` : 'no pseudo labels'}`,
          );
          summary = await trainer.run();
        } finally {
          trainer.dispose();
        }
        if (summary.interrupted) throw new TrainingInterrupted(summary.interrupted.atStep, totalSteps, dir, stage + 1);
      } catch (error) {
        framework.dispose();
        throw error;
      }
      const record: MultistageStage = { stage, framework, encoder: framework.encoder(), summary, trainedWith: pseudoLabels };
      done.push(record);
      if (stage < stages - 1) {
        const set = await extractFeatures(record.encoder, data, { batchSize: options.embedBatchSize ?? 256, events, task: `mcl stage ${stage + 1}: embed` });
        record.clustering = kmeans(normaliseRows(set.features, set.dim), set.dim, { ...clustering, rng: new Rng(seed).fork(`kmeans-stage-${stage}`) });
        pseudoLabels = accumulatePseudoLabels(pseudoLabels, record.clustering.assignments, clustering.k);
        record.pseudoLabels = pseudoLabels;
        events.log('mcl', `stage ${stage + 1}/${stages}: k-means inertia ${record.clustering.inertia.toPrecision(6)}, ${countDistinct(pseudoLabels)} pseudo labels`);
        if (dir) await savePseudoLabels(dir, stage, record.clustering, pseudoLabels);
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

async function createStageFramework(registry: Registry, ref: PluginRef, seed: number, events: EventBus, services?: PluginServices): Promise<MclFramework> {
  // The same rng fork every stage: each stage starts from identical weights (upstream re-loads the
  // same pretrained model), so stages differ only by their negatives.
  const created = await registry.create('framework', ref, { rng: new Rng(seed).fork('framework'), events, services, path: 'framework' });
  if (!isMclFramework(created)) {
    created.dispose();
    throw new GenviewError('INTERNAL', 'the mcl plugin did not return an MCL framework.');
  }
  return created;
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

export interface LoadedMultistage {
  frameworks: Framework[];
  /** Every stage's encoder, first stage first. */
  encoders: FeatureExtractor[];
  integrated: FeatureExtractor;
  /** The step each stage's checkpoint was written at. */
  steps: number[];
  dispose(): void;
}

/**
 * Rebuilds the stage models of a multistage run from <runDir>/stage-<s>/last.safetensors (model
 * variables only), for evaluation: the stage encoders and their integration. Every stage must have a
 * checkpoint.
 */
export async function loadMultistage(options: {
  runDir: string;
  framework: PluginRef;
  stages: number;
  imageShape: [number, number, number];
  seed: number;
  registry?: Registry;
  events?: EventBus;
  services?: PluginServices;
}): Promise<LoadedMultistage> {
  const registry = options.registry ?? createRegistry();
  const events = options.events ?? new EventBus();
  // Every weight comes from the stage checkpoints: a backbone's initial-weights file is not read again.
  const ref = mclFrameworkRef(registry, withoutInitialWeights(registry, options.framework), options.imageShape);
  const frameworks: Framework[] = [];
  const steps: number[] = [];
  try {
    for (let stage = 0; stage < options.stages; stage++) {
      const framework = await createStageFramework(registry, ref, options.seed, events, options.services);
      frameworks.push(framework);
      const dir = stageDir(options.runDir, stage);
      let meta: ReturnType<typeof loadModelState>;
      try {
        meta = loadModelState(dir, namespacedVariables(framework.stateModules()));
      } catch (error) {
        throw new GenviewError('CHECKPOINT', `stage ${stage + 1} of ${options.stages} of the MCL run ${options.runDir} has no usable checkpoint in ${dir}: ${(error as Error).message}`, {
          where: dir,
          fix: 'finish training with `genview train --resume` (same config), or evaluate a run whose stages all finished.',
          cause: error,
        });
      }
      steps.push(meta.step);
    }
  } catch (error) {
    for (const f of frameworks) f.dispose();
    throw error;
  }
  const encoders = frameworks.map((f) => f.encoder());
  return {
    frameworks,
    encoders,
    integrated: integratedEncoder(encoders),
    steps,
    dispose: () => {
      for (const f of frameworks) f.dispose();
    },
  };
}

function countDistinct(labels: Int32Array): number {
  return new Set(labels).size;
}

/**
 * An mcl framework reference with the input shape filled in; a non-mcl framework becomes mcl's inner
 * framework. `negatives`, when given, sets (or overrides) the reference's negatives mode.
 */
export function mclFrameworkRef(registry: Registry, framework: PluginRef, shape: [number, number, number], negatives?: 'mask' | 'sampler'): PluginRef {
  const options: Record<string, unknown> & { name: string } = typeof framework === 'string' ? { name: framework } : { ...framework };
  const plugin = registry.resolve('framework', options.name, 'framework');
  const wrapped: Record<string, unknown> & { name: string } = plugin.name === 'mcl' ? options : { name: 'mcl', inner: options };
  if (wrapped.inputShape === undefined) wrapped.inputShape = shape;
  if (negatives !== undefined) wrapped.negatives = negatives;
  return wrapped;
}
