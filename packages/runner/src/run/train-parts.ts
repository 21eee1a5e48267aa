import {
  type Augmentation,
  type BackendReport,
  type Dataset,
  type EvalResult,
  type EventBus,
  type FeatureExtractor,
  type Generator,
  type PluginRef,
  type PluginServices,
  type QualityScorer,
  type Registry,
  Rng,
  backboneFeatures,
  buildBackbone,
  isVisionLanguageEncoder,
} from '@genview/core';
import { cachedFeatures } from '@genview/eval';
import type { RunConfig } from '../config/schema';
import type { GeneratedViewsOptions, TrainSummary, TrainerOptions } from '../trainer/trainer';
import { backboneRefOf } from './finetune';
import { refusedForNoJointSpace } from './joint-space-eval';
import type { StagedRunSummary } from './stages';
import { firstItems } from './subset';

/**
 * What single-stage training (train.ts) and multi-stage training (stages.ts) share: the parts a run
 * builds, evaluation of an encoder and of the random-init baseline, and the trainer options read from
 * the config. Both import from here, so neither imports the other.
 */

export interface EncoderResults {
  encoder: string;
  results: EvalResult[];
}

export interface TrainRunResult {
  backend: BackendReport;
  summary: TrainSummary;
  totalSteps: number;
  /** The trained encoder, then the baselines measured in the same run (multi-stage: the integrated encoder, each stage's, then the baselines). */
  evaluations: EncoderResults[];
  outDir: string;
  /** Present for a multi-stage framework (FrameworkStages): each stage's steps and what the framework reports of it. */
  stages?: StagedRunSummary;
}

export interface TrainRunOptions {
  events?: EventBus;
  registry?: Registry;
  resume?: boolean;
  /**
   * Once aborted, training stops after the step under way with a checkpoint, and the run rejects
   * with TrainingInterrupted instead of evaluating (`genview train` aborts it on SIGINT/SIGTERM).
   */
  stop?: AbortSignal;
}

export { hashConfig } from './config-hash';

/** Runs every configured evaluator on one encoder. */
export async function evaluateEncoder(
  name: string,
  encoder: FeatureExtractor,
  data: { train: Dataset; test: Dataset },
  config: RunConfig,
  registry: Registry,
  events: EventBus,
): Promise<EncoderResults> {
  const results: EvalResult[] = [];
  // The encoder is frozen from here on, so all evaluators share one embedding pass per dataset.
  const frozen = cachedFeatures(encoder);
  for (const [i, ref] of config.eval.evaluators.entries()) {
    const evaluator = await registry.create('evaluator', ref as PluginRef, {
      rng: new Rng(config.seed).fork(`eval-${i}`),
      events,
      path: `eval.evaluators[${i}]`,
    });
    let result: EvalResult;
    try {
      result = await evaluator.evaluate(frozen, data);
    } catch (error) {
      if (!refusedForNoJointSpace(error, encoder)) throw error;
      events.log('eval', `${name}: ${evaluator.name} skipped (it needs an image-text encoder)`);
      continue;
    }
    events.emit('eval', { evaluator: `${name} · ${result.evaluator}`, values: result.metrics, description: result.description });
    results.push(result);
  }
  return { encoder: name, results };
}

export interface RunParts {
  registry: Registry;
  events: EventBus;
  backend: BackendReport;
  context: { rng: Rng; events: EventBus; services: PluginServices };
  frameworkRef: PluginRef;
  /** Stamped on checkpoints (hashConfig of the config as given, before migrations). */
  configHash: string;
  fullTrain: Dataset;
  train: Dataset;
  test: Dataset;
  views: Augmentation[];
  generator?: Generator;
  quality?: QualityScorer;
}

/**
 * The trained architecture at random init. A vision-language framework is rebuilt whole, so its
 * zero-shot and retrieval numbers have a baseline too; otherwise only its backbone is needed
 * (backboneRefOf: a wrapping framework's is its inner framework's).
 */
export async function randomEncoderResults(
  config: RunConfig,
  parts: Pick<RunParts, 'registry' | 'events' | 'frameworkRef' | 'context' | 'train'>,
  data: { train: Dataset; test: Dataset }, trained: FeatureExtractor): Promise<EncoderResults> {
  const { registry, events, frameworkRef } = parts;
  const rng = new Rng(config.seed).fork('random-baseline');
  if (isVisionLanguageEncoder(trained)) {
    const fresh = await registry.create('framework', frameworkRef, { rng, events, services: parts.context.services, path: 'framework' });
    try {
      return await evaluateEncoder('random encoder', fresh.encoder(), data, config, registry, events);
    } finally {
      fresh.dispose();
    }
  }
  const random = await buildBackbone({ rng, events, registry, path: 'baseline' }, backboneRefOf(config), parts.train.info.imageShape, 'baseline.backbone');
  try {
    return await evaluateEncoder('random encoder', backboneFeatures(random), data, config, registry, events);
  } finally {
    random.dispose();
  }
}

/** The trainer's generated-view option from the run config, once its generator is built. */
export function generatedViewsOption(config: RunConfig, generator: Generator | undefined): GeneratedViewsOptions | undefined {
  const generated = config.views.generated;
  return generator && generated ? { generator, probability: generated.probability, views: generated.views } : undefined;
}

/** trainer.evalEvery's kNN monitor of whichever encoder `encoder` returns, on the first items of the splits. */
export function knnMonitor(config: RunConfig, parts: RunParts, encoder: () => FeatureExtractor): TrainerOptions['monitor'] {
  const every = config.trainer.evalEvery;
  if (!(every > 0)) return undefined;
  const data = { train: firstItems(parts.fullTrain, config.eval.monitorTrain), test: firstItems(parts.test, config.eval.monitorTest) };
  return {
    every,
    run: async () => {
      const knn = await parts.registry.create('evaluator', { name: 'knn', k: [20] }, { ...parts.context, path: 'monitor' });
      return (await knn.evaluate(encoder(), data)).metrics;
    },
  };
}

/** The training budget of a run: trainer.steps, else trainer.epochs of the (limited) training set. */
export function totalStepsOf(config: RunConfig, train: Dataset): number {
  const stepsPerEpoch = Math.floor(train.info.size / config.trainer.batchSize);
  return config.trainer.steps ?? Math.max(1, Math.round(config.trainer.epochs * stepsPerEpoch));
}
