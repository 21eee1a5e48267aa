
import { join } from 'node:path';
import {
  EventBus,
  type Framework,
  type Generator,
  type PluginRef,
  type QualityScorer,
  Rng,
  selectBackend,
  writeFileAtomic,
} from '@genview/core';
import { rawPixelFeatures } from '@genview/eval';
import type { RunConfig } from '../config/schema';
import { migrateRunConfig } from '../config/migrate';
import { createRegistryWithPlugins } from '../config/plugins';
import { fineTuneFromScratch, fineTuneTrained, frozenFineTuneBaselines } from './finetune';
import { Trainer, TrainingInterrupted } from '../trainer/trainer';
import { withInputShape } from './framework-ref';
import { withBundledModel } from '../bundled/tiny-unclip';
import { isStagedFramework } from '../trainer/stages';
import { trainStagesAndEvaluate } from './stages';
import {
  type RunParts,
  type TrainRunOptions,
  type TrainRunResult,
  evaluateEncoder,
  generatedViewsOption,
  hashConfig,
  knnMonitor,
  randomEncoderResults,
  totalStepsOf,
} from './train-parts';
import { preflight } from './preflight';
import { learningRateFor } from './schedule';
import { firstItems } from './subset';
import { createRunnerServices, saveRunConfig } from './services';
import { buildViewPipelines } from './views';

export type { EncoderResults, TrainRunOptions, TrainRunResult } from './train-parts';
export { evaluateEncoder, hashConfig, withInputShape };

/** `genview train`: builds everything a config names, trains, evaluates against baselines, writes results.json. */
export async function trainFromConfig(given: RunConfig, options: TrainRunOptions = {}): Promise<TrainRunResult> {
  const events = options.events ?? new EventBus();
  const { config, deprecations } = migrateRunConfig(given);
  for (const message of deprecations) events.log('config', message, 'warn');
  const registry = options.registry ?? (await createRegistryWithPlugins(config.plugins));
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
    // A multi-stage framework's instance trains its first stage; trainStagesAndEvaluate builds the rest.
    const framework = await registry.create('framework', frameworkRef, { ...context, path: 'framework' });
    const generated = config.views.generated;
    if (generated) {
      generator = await registry.create('generator', await withBundledModel(generated.generator as PluginRef, 'views.generated.generator'), { ...context, path: 'views.generated.generator' });
    }
    if (config.quality) quality = await registry.create('quality', config.quality as PluginRef, { ...context, path: 'quality' });
    // Before the first step, so an interrupted run's checkpoint can already serve as checkpoint:<outDir>.
    await saveRunConfig(config.outDir, config, frameworkRef);
    // The hash of the config as given, so a run started before a migration resumes without a warning.
    const parts = { registry, events, backend, context, frameworkRef, configHash: hashConfig(given), fullTrain, train, test, views, generator, quality };
    if (isStagedFramework(framework)) return await trainStagesAndEvaluate(config, options, { ...parts, framework });
    return await trainAndEvaluate(config, options, { ...parts, framework });
  } finally {
    await generator?.dispose?.();
    (quality as { dispose?: () => void } | undefined)?.dispose?.();
    services.dispose();
  }
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
    tensorboard: config.trainer.tensorboard,
    gradClipNorm: config.trainer.gradClipNorm,
    generated: generatedViewsOption(config, generator),
    quality,
    events,
    backend: backend.chosen,
    configHash: parts.configHash,
    monitor: knnMonitor(config, parts, () => framework.encoder()),
    stop: options.stop,
  });
  if (options.resume) trainer.resume();
  events.log('train', `${framework.name} on ${train.info.name} (${train.info.size} images), ${totalSteps} steps of batch ${config.trainer.batchSize}, backend ${backend.chosen}`);
  const summary = await trainer.run();
  trainer.dispose();
  if (summary.interrupted) {
    framework.dispose();
    throw new TrainingInterrupted(summary.interrupted.atStep, totalSteps, config.outDir);
  }

  const data = { train: fullTrain, test };
  const finetuning = { config, registry, events, imageShape: shape, data };
  const trained = await evaluateEncoder(framework.name, framework.encoder(), data, config, registry, events);
  const trainedFineTune = await fineTuneTrained(finetuning, framework);
  if (trainedFineTune) trained.results.push(trainedFineTune);
  // Asked for by name, so reported whether or not eval.baselines is on.
  const evaluations = [trained, ...(await frozenFineTuneBaselines(finetuning, parts.context.services))];
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
