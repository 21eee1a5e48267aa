import { type Dataset, EventBus, type FeatureExtractor, type PluginRef, type Registry, Rng, selectBackend } from '@genview/core';
import { rawPixelFeatures } from '@genview/eval';
import { migrateRunConfig } from '../config/migrate';
import type { RunConfig } from '../config/schema';
import { createRegistryWithPlugins } from '../config/plugins';
import { loadModelState } from '../trainer/checkpoint';
import { namespacedVariables } from '../trainer/named-variables';
import { type StagedFramework, isStagedFramework, loadStages } from '../trainer/stages';
import { checkNamedFineTune, fineTuneFromTorchWeights, fineTuneTrained, frozenFineTuneBaselines } from './finetune';
import { createRunnerServices } from './services';
import { integratedEncoderName, refuseStagedFineTune, stageEncoderName } from './stages';
import { type EncoderResults, evaluateEncoder, randomEncoderResults } from './train-parts';
import { withInputShape, withoutInitialWeights } from './framework-ref';

/** What `genview eval` measured: the run's trained encoder first (as `encoder` and `results`), then the rest. */
export interface EvalRunResult extends EncoderResults {
  /**
   * Every encoder evaluated, the trained one first: for a multi-stage run the integrated encoder, then
   * each stage's alone (eval.stages), then the baselines (eval.baselines): the untrained network with
   * the run's seed and raw pixels, as `genview train` reports them.
   */
  evaluations: EncoderResults[];
  /** The step of each checkpoint evaluated (one per stage for a multi-stage run). */
  steps: number[];
}

export interface EvaluateOptions {
  events?: EventBus;
  registry?: Registry;
  /** The run directory to load (default config.outDir). */
  checkpointDir?: string;
  /** 'trained' evaluates the trained encoder alone (what an eval-sweep job records); default 'all'. */
  encoders?: 'trained' | 'all';
}

/**
 * `genview eval`: loads the last checkpoint of a run and evaluates its encoder, then (unless
 * encoders: 'trained') each stage of a multi-stage run and the baselines. A multi-stage run's encoder
 * is its integration, rebuilt from every stage's checkpoint.
 */
export async function evaluateFromConfig(given: RunConfig, options: EvaluateOptions = {}): Promise<EvalRunResult> {
  const events = options.events ?? new EventBus();
  const { config, deprecations } = migrateRunConfig(given);
  for (const message of deprecations) events.log('config', message, 'warn');
  // Before anything loads: an eval.encoder that eval.finetune cannot start from.
  checkNamedFineTune(config);
  await selectBackend({ events });
  const registry = options.registry ?? (await createRegistryWithPlugins(config.plugins));
  const context = { rng: new Rng(config.seed), events };
  const train = await registry.create('dataset', config.data.train as PluginRef, { ...context, path: 'data.train' });
  const test = await registry.create('dataset', config.data.test as PluginRef, { ...context, path: 'data.test' });
  const dir = options.checkpointDir ?? config.outDir;
  const all = options.encoders !== 'trained';
  // Text is encoded with the tokenizer the run saved beside its checkpoint, never a re-learned one.
  const services = createRunnerServices({
    config,
    imageShape: train.info.imageShape,
    registry,
    events,
    tokenizer: { runDir: dir, reuse: true, captions: { dataset: train.info.name, texts: train.captions } },
  });
  const data = { train, test };
  try {
    if (config.eval.encoder !== undefined) return await evaluateNamedEncoder(config.eval.encoder, services, data, config, registry, events, all);
    const frameworkRef = withInputShape(registry, config.framework as PluginRef, train.info.imageShape);
    // The checkpoints hold every weight: a backbone's initial-weights file is not read again.
    const framework = await registry.create('framework', withoutInitialWeights(registry, frameworkRef), { ...context, services, path: 'framework' });
    let evaluated: Evaluated;
    let frozenRows: EncoderResults[] = [];
    if (isStagedFramework(framework)) {
      evaluated = await evaluateStages(config, framework, dir, { registry, events, data, all });
    } else {
      try {
        const meta = loadModelState(dir, namespacedVariables(framework.stateModules()));
        events.log('eval', `loaded ${framework.name} from ${dir} (step ${meta.step})`);
        const trained = await evaluateEncoder(framework.name, framework.encoder(), data, config, registry, events);
        const finetuning = { config, registry, events, imageShape: train.info.imageShape, data };
        const fineTuned = await fineTuneTrained(finetuning, framework);
        if (fineTuned) trained.results.push(fineTuned);
        frozenRows = await frozenFineTuneBaselines(finetuning, services);
        evaluated = { trained, stages: [], steps: [meta.step], network: framework.encoder(), dispose: () => framework.dispose() };
      } catch (error) {
        framework.dispose();
        throw error;
      }
    }
    try {
      const evaluations = [evaluated.trained, ...evaluated.stages, ...frozenRows];
      if (all && config.eval.baselines) {
        const parts = { registry, events, frameworkRef, train, context: { ...context, services } };
        evaluations.push(await randomEncoderResults(config, parts, data, evaluated.network));
        evaluations.push(await evaluateEncoder('raw pixels', rawPixelFeatures(train), data, config, registry, events));
      }
      return { ...evaluated.trained, evaluations, steps: evaluated.steps };
    } finally {
      evaluated.dispose();
    }
  } finally {
    services.dispose();
  }
}

/**
 * eval.encoder: a frozen encoder the services resolve (an ONNX model, PyTorch weights, another run),
 * evaluated under its own name with no checkpoint of this run; the raw-pixel baseline follows.
 */
async function evaluateNamedEncoder(
  name: string,
  services: ReturnType<typeof createRunnerServices>,
  data: { train: Dataset; test: Dataset },
  config: RunConfig,
  registry: Registry,
  events: EventBus,
  all: boolean,
): Promise<EvalRunResult> {
  const encoder = await services.featureExtractor(name);
  const named = await evaluateEncoder(name, encoder, data, config, registry, events);
  const finetuning = { config, registry, events, imageShape: data.train.info.imageShape, data };
  // checkNamedFineTune let only safetensors:<file> through with eval.finetune.
  const fineTuned = config.eval.finetune ? await fineTuneFromTorchWeights(finetuning, name) : undefined;
  if (fineTuned) named.results.push(fineTuned);
  const evaluations = [named, ...(await frozenFineTuneBaselines(finetuning, services))];
  if (all && config.eval.baselines) evaluations.push(await evaluateEncoder('raw pixels', rawPixelFeatures(data.train), data, config, registry, events));
  return { ...named, evaluations, steps: [] };
}

/** What one run's checkpoints gave: the trained encoder's results, each stage's, and a network of the run's architecture (for the baseline). */
interface Evaluated {
  trained: EncoderResults;
  stages: EncoderResults[];
  steps: number[];
  network: FeatureExtractor;
  dispose(): void;
}

/** A multi-stage run's integrated encoder from <dir>/stage-<s>/last.safetensors, named as `genview train` named it, then each stage alone. */
async function evaluateStages(
  config: RunConfig,
  framework: StagedFramework,
  dir: string,
  run: { registry: Registry; events: EventBus; data: { train: Dataset; test: Dataset }; all: boolean },
): Promise<Evaluated> {
  try {
    refuseStagedFineTune(config, framework.name);
  } catch (error) {
    framework.dispose();
    throw error;
  }
  const { registry, events, data } = run;
  const name = framework.name;
  const loaded = await loadStages(framework, dir, config.seed);
  try {
    const count = loaded.encoders.length;
    events.log('eval', `loaded ${count} ${name} stages from ${dir} (steps ${loaded.steps.join(', ')})`);
    const trained = await evaluateEncoder(integratedEncoderName(name, count), loaded.integrated, data, config, registry, events);
    const stages: EncoderResults[] = [];
    if (run.all && config.eval.stages !== false) {
      for (const [i, encoder] of loaded.encoders.entries()) stages.push(await evaluateEncoder(stageEncoderName(name, i), encoder, data, config, registry, events));
    }
    return { trained, stages, steps: loaded.steps, network: loaded.encoders[0], dispose: () => loaded.dispose() };
  } catch (error) {
    loaded.dispose();
    throw error;
  }
}
