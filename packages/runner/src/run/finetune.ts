import {
  type Backbone,
  type Dataset,
  type EvalResult,
  type EventBus,
  type Framework,
  GenviewError,
  type ImageShape,
  type PluginRef,
  type Registry,
  Rng,
  buildBackbone,
  copyModule,
} from '@genview/core';
import { ViewPipeline } from '@genview/views';
import type { RunConfig } from '../config/schema';
import { fineTuneEvalResult, fineTuneSemiSupervised } from '../finetune/fine-tune';

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
