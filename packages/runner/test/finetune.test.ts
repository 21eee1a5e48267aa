import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus, Rng, tf } from '@genview/core';
import { fineTuneSemiSupervised, createRegistry, runConfigSchema, trainFromConfig } from '@genview/runner';
import { ViewPipeline } from '@genview/views';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const registry = createRegistry();
const context = (seed: number) => ({ rng: new Rng(seed), events: new EventBus(), registry, path: 'test' });

async function fashion(split: 'train' | 'test', limit: number) {
  return registry.create('dataset', { name: 'fashion-mnist', split, limit }, context(0));
}

describe('semi-supervised fine-tuning', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'genview-finetune-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('trains backbone and classifier end to end on a labelled fraction, far above chance, without leaking tensors', async () => {
    const data = { train: await fashion('train', 2000), test: await fashion('test', 500) };
    const augment = new ViewPipeline([await registry.create('augment', { name: 'horizontal-flip', p: 0.5 }, context(1))]);
    let built = 0;
    const makeBackbone = async () => {
      built++;
      return registry.create('backbone', { name: 'small-cnn', widths: [8, 16, 16], inChannels: 1 }, context(2));
    };
    const before = tf.memory().numTensors;
    const results = await fineTuneSemiSupervised(
      { fractions: [0.1, 0.02], steps: 60, batchSize: 32, lr: 0.2, seed: 0, evalBatchSize: 250 },
      { makeBackbone, augment, data, events: new EventBus() },
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(built).toBe(2);
    expect(results.map((r) => r.labelled)).toEqual([200, 40]);
    // 10 classes: chance is 10 %. From scratch, 200 labels and 60 steps of a small CNN reach about 54 %.
    expect(results[0]!.top1).toBeGreaterThan(0.4);
    expect(results[0]!.top5).toBeGreaterThanOrEqual(results[0]!.top1);
    expect(results[0]!.finalLoss).toBeLessThan(Math.log(10));
  });

  it('runs from a config for the trained encoder and the from-scratch baseline, and rejects bad settings by field', async () => {
    const base = {
      seed: 1,
      outDir: join(root, 'run'),
      data: { train: { name: 'fashion-mnist', split: 'train', limit: 64 }, test: { name: 'fashion-mnist', split: 'test', limit: 40 } },
      framework: { name: 'simclr', backbone: { name: 'small-cnn', widths: [4, 8, 8] }, projector: { name: 'mlp-projector', hiddenDim: 16, outDim: 8 } },
      optimizer: { name: 'sgd' },
      trainer: { steps: 2, batchSize: 16, lr: 0.05, scaleLr: false, logEvery: 1 },
    };
    const config = runConfigSchema.parse({
      ...base,
      eval: { evaluators: [{ name: 'knn', k: [5] }], baselines: true, finetune: { fractions: [0.5], steps: 3, batchSize: 8 } },
    });
    const result = await trainFromConfig(config, { events: new EventBus() });
    const fineTuned = result.evaluations.map((e) => e.results.find((r) => r.evaluator === 'semi-supervised fine-tuning'));
    expect(fineTuned.map((r) => r !== undefined)).toEqual([true, true, false]);
    for (const r of fineTuned.slice(0, 2)) {
      expect(r!.metrics['finetune_top1@50%']).toBeGreaterThanOrEqual(0);
      expect(r!.description).toContain('30 labels');
    }
    const bad = runConfigSchema.safeParse({ ...base, eval: { finetune: { fractions: [1.5] } } });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues[0]?.path)).toContain('finetune');
  });
});
