import {
  type Backbone,
  type Dataset,
  type EvalResult,
  type EventBus,
  type Framework,
  GenviewError,
  type ImageShape,
  type PluginRef,
  type PluginServices,
  type Registry,
  Rng,
  buildBackbone,
  copyModule,
  decodeSafetensors,
  readFileIfExists,
} from '@genview/core';
import { setTorchWeights } from '@genview/backbones';
import { ViewPipeline } from '@genview/views';
import type { RunConfig } from '../config/schema';
import { fineTuneEvalResult, fineTuneSemiSupervised } from '../finetune/fine-tune';
import { frozenFractionBaseline } from '../finetune/frozen-baseline';

/**
 * The backbone a config's framework names (frameworks default to the small CNN). A framework that wraps
 * another (an `inner` reference and no backbone of its own) has its inner framework's.
 */
export function backboneRefOf(config: RunConfig): PluginRef {
  const given = config.framework as PluginRef;
  let frameworkRef = (typeof given === 'string' ? { name: given } : given) as Record<string, unknown>;
  while (frameworkRef.backbone === undefined && frameworkRef.inner !== undefined) {
    const inner = frameworkRef.inner;
    frameworkRef = (typeof inner === 'string' ? { name: inner } : inner) as Record<string, unknown>;
  }
  return (frameworkRef.backbone ?? 'small-cnn') as PluginRef;
}

/** The online backbone of a trained framework; every built-in framework names it "backbone". */
export function onlineBackbone(framework: Framework) {
  const module = framework.trainableModules().find((m) => m.name === 'backbone');
  if (!module) {
    throw new GenviewError('INVALID_CONFIG', `framework ${framework.name} has no trainable module named "backbone" to fine-tune.`, {
      where: 'eval.finetune',
      fix: 'name the online backbone "backbone" in trainableModules(), or remove eval.finetune.',
    });
  }
  return module;
}

export interface FineTuneRun {
  config: RunConfig;
  registry: Registry;
  events: EventBus;
  imageShape: ImageShape;
  data: { train: Dataset; test: Dataset };
}

/**
 * Runs eval.finetune from one starting point. `startFrom` fills a freshly built backbone: copies the
 * trained weights, or leaves a random init for the from-scratch baseline.
 */
export async function fineTuneEvaluation(run: FineTuneRun, label: string, startFrom: (fresh: Backbone) => void, seedLabel: string): Promise<EvalResult | undefined> {
  const settings = run.config.eval.finetune;
  if (!settings) return undefined;
  const context = { rng: new Rng(run.config.seed).fork(seedLabel), events: run.events, registry: run.registry, path: 'eval.finetune' };
  const steps = [];
  for (const [i, ref] of settings.augment.entries()) {
    steps.push(await run.registry.create('augment', ref as PluginRef, { ...context, path: `eval.finetune.augment[${i}]` }));
  }
  const makeBackbone = async () => {
    const backbone = await buildBackbone(context, backboneRefOf(run.config), run.imageShape, 'eval.finetune.backbone');
    startFrom(backbone);
    return backbone;
  };
  const results = await fineTuneSemiSupervised(
    { ...settings, seed: run.config.seed },
    { makeBackbone, augment: new ViewPipeline(steps), data: run.data, events: run.events },
  );
  const result = fineTuneEvalResult(results, { ...settings, seed: run.config.seed }, run.data);
  run.events.emit('eval', { evaluator: `${label} · ${result.evaluator}`, values: result.metrics, description: result.description });
  return result;
}

/** Fine-tunes from a trained framework's backbone. */
export function fineTuneTrained(run: FineTuneRun, framework: Framework): Promise<EvalResult | undefined> {
  const trained = onlineBackbone(framework);
  return fineTuneEvaluation(run, framework.name, (fresh) => copyModule(trained, fresh), 'finetune');
}

/** The from-scratch baseline: the same recipe from the random encoder baseline's initial weights. */
export function fineTuneFromScratch(run: FineTuneRun): Promise<EvalResult | undefined> {
  return fineTuneEvaluation(run, 'random encoder', () => {}, 'random-baseline');
}

/**
 * eval.finetune.frozen: each named encoder (resolved by the run's feature-extractor service) measured
 * frozen on the labelled subsets fine-tuning trains on, one row per encoder beside the fine-tuned ones.
 */
export async function frozenFineTuneBaselines(run: FineTuneRun, services: PluginServices): Promise<{ encoder: string; results: EvalResult[] }[]> {
  const settings = run.config.eval.finetune;
  const names = settings?.frozen ?? [];
  if (!settings || names.length === 0) return [];
  const resolveExtractor = services.featureExtractor;
  if (!resolveExtractor) {
    throw new GenviewError('INTERNAL', 'eval.finetune.frozen needs the feature-extractor service, and this host has none.', { where: 'eval.finetune.frozen' });
  }
  const rows = [];
  for (const name of names) {
    const encoder = await resolveExtractor.call(services, name);
    const result = await frozenFractionBaseline(name, encoder, { fractions: settings.fractions, seed: run.config.seed, batchSize: settings.evalBatchSize }, run.data, run.events);
    run.events.emit('eval', { evaluator: `${name} · ${result.evaluator}`, values: result.metrics, description: result.description });
    rows.push({ encoder: name, results: [result] });
  }
  return rows;
}

/**
 * What eval.finetune can start from when eval.encoder names the encoder: PyTorch weights
 * (safetensors:<file>) fill this config's backbone and fine-tune in TensorFlow.js. The other names are
 * refused before anything loads, each with the way to what the user wants.
 */
export function checkNamedFineTune(config: RunConfig): void {
  const name = config.eval.encoder;
  if (name === undefined || !config.eval.finetune || name.startsWith('safetensors:')) return;
  const frozenHint = `keep it frozen and compare at the same label budget with eval.finetune.frozen: [${JSON.stringify(name)}] in the config of a trained run (genview train, or genview eval of that run), or measure it with eval.evaluators (knn, linear-probe, semi-supervised) and no eval.finetune`;
  const why: Record<string, { problem: string; fix: string }> = {
    onnx: {
      problem: `${name} runs in onnxruntime as a frozen model: its weights are not TensorFlow.js variables, so eval.finetune cannot train them`,
      fix: `${frozenHint}; to fine-tune the network itself, import its PyTorch weights: eval.encoder: safetensors:<file> (this config's backbone, e.g. resnet-18 with stem: imagenet)`,
    },
    checkpoint: {
      problem: `${name} is another run's network, and eval.finetune builds this config's backbone, which need not be that run's`,
      fix: 'fine-tune that run from its own config: genview eval --config <its outDir>/config.json --set eval.finetune.steps=500',
    },
    random: {
      problem: `${name} is a random initialisation, which eval.finetune already trains as the from-scratch baseline`,
      fix: 'run genview train with eval.baselines: true, or name safetensors:<file> to fine-tune from PyTorch weights',
    },
  };
  const kind = name.slice(0, Math.max(0, name.indexOf(':')));
  const refusal = why[kind] ?? { problem: `${name} cannot be fine-tuned`, fix: frozenHint };
  throw new GenviewError('INVALID_CONFIG', `eval.finetune with eval.encoder: ${refusal.problem}.`, { where: 'eval.finetune', fix: `${refusal.fix}.` });
}

/** eval.finetune from a safetensors:<file> eval.encoder: its weights fill a fresh backbone of this config. */
export async function fineTuneFromTorchWeights(run: FineTuneRun, name: string): Promise<EvalResult | undefined> {
  const file = name.slice('safetensors:'.length);
  const bytes = await readFileIfExists(file);
  if (bytes === null) throw new GenviewError('NOT_FOUND', `no weights file at ${file}.`, { where: 'eval.encoder', fix: 'name an existing safetensors file of PyTorch weights.' });
  const tensors = decodeSafetensors(bytes, file).tensors;
  return fineTuneEvaluation(run, name, (fresh) => setTorchWeights(fresh, tensors, { source: file }), 'finetune');
}
