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
} from '@genview/core';
import type { KMeansResult } from '@genview/eval';
import type { OptimizerConfigInput } from '../../optim';
import { createRegistry } from '../../registry';
import { withoutInitialWeights } from '../../run/framework-ref';
import { type StagedFramework, type TrainedStage, isStagedFramework, loadStages, trainStages } from '../../trainer/stages';
import type { TrainSummary, TrainerOptions } from '../../trainer/trainer';
import { type MclCarry, type MclFramework, type MclNegatives, isMclFramework } from './framework';

export { stageDir } from '../../trainer/stages';

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
  trainer?: Pick<TrainerOptions, 'checkpointEvery' | 'logEvery' | 'backend' | 'configHash' | 'generated' | 'quality' | 'stop' | 'tensorboard'>;
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

export interface MultistageResult {
  stages: MultistageStage[];
  /** The concatenation of every stage's L2-normalised features, re-normalised: MCL's final representation. */
  integrated: FeatureExtractor;
  /** Disposes every stage's framework (their encoders stop working). */
  dispose(): void;
}

/**
 * Multistage contrastive learning (MCL) from code: the mcl framework's stages (see the mcl plugin) run
 * by the runner's stage host (trainStages). For each stage a fresh model from the same starting point is
 * trained with negatives restricted to the pseudo labels of the previous stages, then the training set is
 * embedded and clustered. The result exposes every stage's encoder and their integration.
 */
export async function runMultistage(options: MultistageOptions): Promise<MultistageResult> {
  const { data, stages, seed } = options;
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
  if (options.resume && !options.outDir) {
    throw new GenviewError('INVALID_CONFIG', 'resuming a multistage run needs the outDir it wrote its stages to.', { where: 'mcl.outDir', fix: 'pass outDir.' });
  }
  const ref: Record<string, unknown> & { name: string } = { ...(mclFrameworkRef(registry, options.framework, data.info.imageShape) as { name: string }), stages, stepsPerStage: steps };
  if (options.clustering) ref.clustering = { ...(ref.clustering as object | undefined), ...options.clustering };
  if (options.embedBatchSize !== undefined) ref.embedBatchSize = options.embedBatchSize;
  const framework = await createMcl(registry, ref, seed, events, options.services);
  const record = (stage: TrainedStage): MultistageStage => {
    const trainedWith = stage.carriedIn as MclCarry | undefined;
    const produced = stage.carriedOut as MclCarry | undefined;
    return {
      stage: stage.info.index,
      framework: stage.framework as MclFramework,
      encoder: stage.encoder,
      summary: stage.summary,
      trainedWith: trainedWith?.pseudoLabels,
      ...(produced ? { clustering: produced.clustering, pseudoLabels: produced.pseudoLabels } : {}),
    };
  };
  const result = await trainStages({
    framework,
    data,
    views: options.views,
    totalSteps: steps.reduce((n, s) => n + s, 0),
    batchSize: options.batchSize,
    optimizer: options.optimizer,
    learningRate: options.learningRate,
    seed,
    gradClipNorm: options.gradClipNorm,
    events,
    outDir: options.outDir,
    resume: options.resume,
    trainer: options.trainer,
    monitor: options.monitor ? (stage) => options.monitor!(stage as MclFramework) : undefined,
    onStage: options.onStage ? (stage) => options.onStage!(record(stage)) : undefined,
  });
  return { stages: result.stages.map(record), integrated: result.integrated, dispose: result.dispose };
}

/** The mcl framework from its reference, built as `genview train` builds it (the first stage). */
async function createMcl(registry: Registry, ref: PluginRef, seed: number, events: EventBus, services?: PluginServices): Promise<StagedFramework & MclFramework> {
  const created = await registry.create('framework', ref, { rng: new Rng(seed), events, services, path: 'framework' });
  if (!isMclFramework(created) || !isStagedFramework(created)) {
    created.dispose();
    throw new GenviewError('INTERNAL', 'the mcl plugin did not return an MCL framework.');
  }
  return created;
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
  const ref = { ...(mclFrameworkRef(registry, withoutInitialWeights(registry, options.framework), options.imageShape) as { name: string }), stages: options.stages };
  const framework = await createMcl(registry, ref, options.seed, events, options.services);
  return loadStages(framework, options.runDir, options.seed);
}

/**
 * An mcl framework reference with the input shape filled in; a non-mcl framework becomes mcl's inner
 * framework. `negatives`, when given, sets (or overrides) the reference's negatives mode.
 */
export function mclFrameworkRef(registry: Registry, framework: PluginRef, shape: [number, number, number], negatives?: MclNegatives): PluginRef {
  const options: Record<string, unknown> & { name: string } = typeof framework === 'string' ? { name: framework } : { ...framework };
  const plugin = registry.resolve('framework', options.name, 'framework');
  const wrapped: Record<string, unknown> & { name: string } = plugin.name === 'mcl' ? options : { name: 'mcl', inner: options };
  if (wrapped.inputShape === undefined) wrapped.inputShape = shape;
  if (negatives !== undefined) wrapped.negatives = negatives;
  return wrapped;
}
