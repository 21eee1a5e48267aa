import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  type Augmentation,
  type BackendReport,
  type Dataset,
  type EvalResult,
  EventBus,
  type FeatureExtractor,
  type Framework,
  type Generator,
  type PluginRef,
  type PluginServices,
  type QualityScorer,
  type Registry,
  Rng,
  isVisionLanguageEncoder,
  selectBackend,
  writeFileAtomic,
} from '@genview/core';
import { cachedFeatures, rawPixelFeatures } from '@genview/eval';
import type { RunConfig } from '../config/schema';
import { buildBackbone, backboneFeatures } from '../frameworks/parts';
import { createRegistry } from '../registry';
import { backboneRefOf, fineTuneFromScratch, fineTuneTrained } from './finetune';
import { type GeneratedViewsOptions, type TrainSummary, Trainer, type TrainerOptions } from '../trainer/trainer';
import { withInputShape } from './framework-ref';
import { withBundledModel } from './generate';
import { refusedForNoJointSpace } from './joint-space-eval';
import { type MclRunSummary, trainMultistageAndEvaluate } from './multistage';
import { preflight } from './preflight';
import { learningRateFor } from './schedule';
import { firstItems } from './subset';
import { createRunnerServices, saveRunConfig } from './services';
import { buildViewPipelines } from './views';

export interface EncoderResults {
  encoder: string;
  results: EvalResult[];
}

export interface TrainRunResult {
  backend: BackendReport;
  summary: TrainSummary;
  totalSteps: number;
  /** The trained encoder, then the baselines measured in the same run (MCL: the integrated encoder, each stage's, then the baselines). */
  evaluations: EncoderResults[];
  outDir: string;
  /** Present for an MCL run (config.mcl): each stage's steps, clustering and pseudo-label file. */
  mcl?: MclRunSummary;
}

export interface TrainRunOptions {
  events?: EventBus;
  registry?: Registry;
  resume?: boolean;
}

/** The run's hash, stamped on its checkpoints so a resume with another config is flagged. */
export function hashConfig(config: RunConfig): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
}

export { withInputShape };

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

/** `genview train`: builds everything a config names, trains, evaluates against baselines, writes results.json. */
export async function trainFromConfig(config: RunConfig, options: TrainRunOptions = {}): Promise<TrainRunResult> {
  const events = options.events ?? new EventBus();
  const registry = options.registry ?? createRegistry();
  preflight(config, registry);
  const backend = await selectBackend({ events });
  const root = new Rng(config.seed);
  const dataContext = { rng: root, events };
  const fullTrain = await registry.create('dataset', config.data.train as PluginRef, { ...dataContext, path: 'data.train' });
  const train = firstItems(fullTrain, config.trainer.limitTrain);
  const test = await registry.create('dataset', config.data.test as PluginRef, { ...dataContext, path: 'data.test' });
  const shape = train.info.imageShape;
  const services = createRunnerServices({
    config,
    imageShape: shape,
    registry,
    events,
    // A fresh run learns its caption tokenizer again; a resumed one must read the one its checkpoint was trained with.
    tokenizer: { runDir: config.outDir, reuse: options.resume === true, captions: { dataset: train.info.name, texts: train.captions } },
  });
  const context = { ...dataContext, services };
  let generator: Generator | undefined;
  let quality: QualityScorer | undefined;
  try {
    const views = await buildViewPipelines(config.views, registry, shape, context);
    const frameworkRef = withInputShape(registry, config.framework as PluginRef, shape);
    if (!config.mcl && registry.resolve('framework', typeof frameworkRef === 'string' ? frameworkRef : frameworkRef.name, 'framework').name === 'mcl') {
      events.log('train', 'framework mcl without an mcl section trains one stage without pseudo labels; add `mcl: { stages: 3 }` to run multistage contrastive learning', 'warn');
    }
    // MCL builds a fresh framework per stage (runMultistage); a single-stage run builds its one here.
    const framework: Framework | undefined = config.mcl ? undefined : await registry.create('framework', frameworkRef, { ...context, path: 'framework' });
    const generated = config.views.generated;
    if (generated) {
      generator = await registry.create('generator', withBundledModel(generated.generator as PluginRef), { ...context, path: 'views.generated.generator' });
    }
    if (config.quality) quality = await registry.create('quality', config.quality as PluginRef, { ...context, path: 'quality' });
    // Before the first step, so an interrupted run's checkpoint can already serve as checkpoint:<outDir>.
    await saveRunConfig(config.outDir, config, frameworkRef);
    const parts = { registry, events, backend, context, frameworkRef, fullTrain, train, test, views, generator, quality };
    if (!framework) return await trainMultistageAndEvaluate(config, options, parts);
    return await trainAndEvaluate(config, options, { ...parts, framework });
  } finally {
    await generator?.dispose?.();
    (quality as { dispose?: () => void } | undefined)?.dispose?.();
    services.dispose();
  }
}

export interface RunParts {
  registry: Registry;
  events: EventBus;
  backend: BackendReport;
  context: { rng: Rng; events: EventBus; services: PluginServices };
  frameworkRef: PluginRef;
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
 * (backboneRefOf: an mcl framework's is its inner framework's).
 */
export async function randomEncoderResults(config: RunConfig, parts: RunParts, data: { train: Dataset; test: Dataset }, trained: FeatureExtractor): Promise<EncoderResults> {
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

async function trainAndEvaluate(config: RunConfig, options: TrainRunOptions, parts: RunParts & { framework: Framework }): Promise<TrainRunResult> {
  const { registry, events, backend, fullTrain, train, test, views, framework, generator, quality } = parts;
  const shape = train.info.imageShape;
  const totalSteps = totalStepsOf(config, train);
  const trainer = new Trainer({
    framework,
    data: train,
    views,
    optimizer: config.optimizer as never,
    learningRate: learningRateFor(config, totalSteps),
    totalSteps,
    batchSize: config.trainer.batchSize,
    seed: config.seed,
    outDir: config.outDir,
    checkpointEvery: config.trainer.checkpointEvery,
    logEvery: config.trainer.logEvery,
    gradClipNorm: config.trainer.gradClipNorm,
    generated: generatedViewsOption(config, generator),
    quality,
    events,
    backend: backend.chosen,
    configHash: hashConfig(config),
    monitor: knnMonitor(config, parts, () => framework.encoder()),
  });
  if (options.resume) trainer.resume();
  events.log('train', `${framework.name} on ${train.info.name} (${train.info.size} images), ${totalSteps} steps of batch ${config.trainer.batchSize}, backend ${backend.chosen}`);
  const summary = await trainer.run();
  trainer.dispose();

  const data = { train: fullTrain, test };
  const finetuning = { config, registry, events, imageShape: shape, data };
  const trained = await evaluateEncoder(framework.name, framework.encoder(), data, config, registry, events);
  const trainedFineTune = await fineTuneTrained(finetuning, framework);
  if (trainedFineTune) trained.results.push(trainedFineTune);
  const evaluations = [trained];
  if (config.eval.baselines) {
    const randomResults = await randomEncoderResults(config, parts, data, framework.encoder());
    const scratch = await fineTuneFromScratch(finetuning);
    if (scratch) randomResults.results.push(scratch);
    evaluations.push(randomResults);
    evaluations.push(await evaluateEncoder('raw pixels', rawPixelFeatures(train), data, config, registry, events));
  }
  framework.dispose();
  const result: TrainRunResult = { backend, summary, totalSteps, evaluations, outDir: config.outDir };
  await writeFileAtomic(join(config.outDir, 'results.json'), `${JSON.stringify({ config, ...result }, null, 2)}\n`);
  return result;
}
