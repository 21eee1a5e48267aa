import { EventBus, type PluginRef, type Registry, Rng, selectBackend } from '@genview/core';
import type { RunConfig } from '../config/schema';
import { createRegistry } from '../registry';
import { loadModelState } from '../trainer/checkpoint';
import { namespacedVariables } from '../trainer/named-variables';
import { fineTuneTrained } from './finetune';
import { createRunnerServices } from './services';
import { type EncoderResults, evaluateEncoder, withInputShape } from './train';

/** `genview eval`: loads the last checkpoint of a run and evaluates its encoder. */
export async function evaluateFromConfig(config: RunConfig, options: { events?: EventBus; registry?: Registry; checkpointDir?: string } = {}): Promise<EncoderResults> {
  const events = options.events ?? new EventBus();
  await selectBackend({ events });
  const registry = options.registry ?? createRegistry();
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
    const framework = await registry.create('framework', withInputShape(registry, config.framework as PluginRef, train.info.imageShape), {
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
