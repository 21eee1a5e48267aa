import { type Dataset, EventBus, GenviewError, type PluginRef, type PluginServices, type Registry, Rng, selectBackend } from '@genview/core';
import type { RunConfig } from '../config/schema';
import { createRegistryWithPlugins } from '../config/plugins';
import { loadModelState } from '../trainer/checkpoint';
import { namespacedVariables } from '../trainer/named-variables';
import { fineTuneTrained } from './finetune';
import { integratedEncoderName, loadMultistageRun } from './multistage';
import { withoutInitialWeights } from './framework-ref';
import { createRunnerServices } from './services';
import { type EncoderResults, evaluateEncoder, withInputShape } from './train';

/**
 * `genview eval`: loads the last checkpoint of a run and evaluates its encoder. For an MCL run (config
 * with an `mcl` section) that is the integrated encoder, rebuilt from every stage's checkpoint.
 */
export async function evaluateFromConfig(config: RunConfig, options: { events?: EventBus; registry?: Registry; checkpointDir?: string } = {}): Promise<EncoderResults> {
  const events = options.events ?? new EventBus();
  await selectBackend({ events });
  const registry = options.registry ?? (await createRegistryWithPlugins(config.plugins));
  const context = { rng: new Rng(config.seed), events };
  const train = await registry.create('dataset', config.data.train as PluginRef, { ...context, path: 'data.train' });
  const test = await registry.create('dataset', config.data.test as PluginRef, { ...context, path: 'data.test' });
  const dir = options.checkpointDir ?? config.outDir;
  // Text is encoded with the tokenizer the run saved beside its checkpoint, never a re-learned one.
  const services = createRunnerServices({
    config,
    imageShape: train.info.imageShape,
    registry,
    events,
    tokenizer: { runDir: dir, reuse: true, captions: { dataset: train.info.name, texts: train.captions } },
  });
  try {
    if (config.mcl) return await evaluateMultistage(config, { registry, events, services, dir, data: { train, test } });
    // The checkpoint holds every weight: a backbone's initial-weights file is not read again.
    const ref = withoutInitialWeights(registry, config.framework as PluginRef);
    const framework = await registry.create('framework', withInputShape(registry, ref, train.info.imageShape), {
      ...context,
      services,
      path: 'framework',
    });
    try {
      const meta = loadModelState(dir, namespacedVariables(framework.stateModules()));
      events.log('eval', `loaded ${framework.name} from ${dir} (step ${meta.step})`);
      const results = await evaluateEncoder(framework.name, framework.encoder(), { train, test }, config, registry, events);
      const fineTuned = await fineTuneTrained({ config, registry, events, imageShape: train.info.imageShape, data: { train, test } }, framework);
      if (fineTuned) results.results.push(fineTuned);
      return results;
    } finally {
      framework.dispose();
    }
  } finally {
    services.dispose();
  }
}

/** An MCL run's integrated encoder from <dir>/stage-<s>/last.safetensors, evaluated as `genview train` named it. */
async function evaluateMultistage(
  config: RunConfig,
  run: { registry: Registry; events: EventBus; services: PluginServices; dir: string; data: { train: Dataset; test: Dataset } },
): Promise<EncoderResults> {
  const mcl = config.mcl!;
  if (config.eval.finetune) {
    throw new GenviewError('INVALID_CONFIG', "eval.finetune cannot fine-tune MCL's integrated encoder (a concatenation of every stage's backbone).", {
      where: 'eval.finetune',
      fix: 'remove eval.finetune from the config; kNN and linear probes evaluate the integrated encoder.',
    });
  }
  const { registry, events, dir, data } = run;
  const shape = data.train.info.imageShape;
  const loaded = await loadMultistageRun(config, dir, shape, { registry, events, services: run.services });
  try {
    events.log('eval', `loaded ${mcl.stages} MCL stages from ${dir} (steps ${loaded.steps.join(', ')})`);
    return await evaluateEncoder(integratedEncoderName(mcl.stages), loaded.integrated, data, config, registry, events);
  } finally {
    loaded.dispose();
  }
}
