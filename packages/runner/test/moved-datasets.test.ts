import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus } from '@genview/core';
import { plugins as datasetPlugins } from '@genview/datasets';
import { createRegistry, runConfigSchema, trainFromConfig } from '@genview/runner';
import { plugins as viewPlugins } from '@genview/views';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'genview-moved-datasets-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('datasets moved from @genview/views to @genview/datasets', () => {
  it('the runner registry offers every dataset by its bare, new and old qualified names', () => {
    const registry = createRegistry();
    expect(viewPlugins.filter((p) => p.kind === 'dataset')).toEqual([]);
    const moved = ['captioned-shapes', 'colored-digits', 'digits-on-fashion', 'fashion-mnist', 'image-folder', 'mnist'];
    expect(datasetPlugins.map((p) => p.name)).toEqual(expect.arrayContaining(moved));
    for (const name of moved) {
      for (const ref of [name, `@genview/datasets:${name}`, `datasets:${name}`, `@genview/views:${name}`, `views:${name}`]) {
        const plugin = registry.resolve('dataset', ref);
        expect(plugin.package, ref).toBe('@genview/datasets');
        expect(plugin.name, ref).toBe(name);
      }
    }
  });

  it('a config naming "@genview/views:colored-digits" still trains, with a deprecation warning naming the new reference', async () => {
    const events = new EventBus();
    const warnings: string[] = [];
    events.on('log', (e) => {
      if (e.level === 'warn') warnings.push(e.message);
    });
    const config = runConfigSchema.parse({
      seed: 1,
      outDir: join(root, 'run'),
      data: {
        train: { name: '@genview/views:colored-digits', split: 'train', count: 32, size: 8 },
        test: { name: 'colored-digits', split: 'test', count: 16, size: 8 },
      },
      views: { pipelines: [[{ name: 'horizontal-flip' }], [{ name: 'horizontal-flip' }]] },
      framework: { name: 'simclr', backbone: { name: 'small-cnn', widths: [4, 8] }, projector: { name: 'mlp-projector', hiddenDim: 8, outDim: 4 } },
      optimizer: { name: 'sgd' },
      trainer: { steps: 1, batchSize: 8, lr: 0.01, scaleLr: false, logEvery: 1, tensorboard: false },
      eval: { evaluators: [], baselines: false },
    });
    const result = await trainFromConfig(config, { events });
    expect(result).toBeDefined();
    const moved = warnings.filter((w) => w.includes('deprecated') && w.includes('@genview/views:colored-digits'));
    expect(moved).toHaveLength(1);
    expect(moved[0]).toContain('data.train');
    expect(moved[0]).toContain('@genview/datasets:colored-digits');
  });
});
