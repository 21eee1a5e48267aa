import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus, tf } from '@genview/core';
import { createRegistry, createRunnerServices, fitForegroundFromConfig, runConfigSchema, trainFromConfig } from '@genview/runner';
import { describe, expect, it } from 'vitest';

/** GenView's frozen encoder from ONNX: the bundled tiny CLIP's patch tokens drive the foreground fit and the pair weights. */
describe('onnx:tiny-clip as the patch-token encoder of genview-fg-bg', () => {
  it('resolves once per name with a 7x7 grid of 64-d tokens, and refuses an encoder without a spatial map', async () => {
    const services = createRunnerServices({ config: runConfigSchema.parse({}), imageShape: [28, 28, 1], registry: createRegistry(), events: new EventBus() });
    const first = services.patchTokenEncoder('onnx:tiny-clip');
    expect(services.patchTokenEncoder('onnx:tiny-clip')).toBe(first);
    const images = tf.zeros([3, 28, 28, 1]) as tf.Tensor4D;
    const tokens = await (await first).patchTokens(images);
    expect(tokens.shape).toEqual([3, 49, 64]);
    tf.dispose([images, tokens]);
    await expect(services.patchTokenEncoder('onnx:/no/such/folder')).rejects.toThrow(/no image tower at \/no\/such\/folder/);
    services.dispose();
  });

  it('fit-foreground and a SimCLR run with quality genview-fg-bg read it; the weights vary', async () => {
    const root = await mkdtemp(join(tmpdir(), 'genview-onnx-fg-'));
    try {
      const config = runConfigSchema.parse({
        seed: 1,
        outDir: join(root, 'run'),
        data: { train: { name: 'fashion-mnist', split: 'train', limit: 64 }, test: { name: 'fashion-mnist', split: 'test', limit: 40 } },
        views: { preset: 'simclr' },
        framework: { name: 'simclr', backbone: { name: 'small-cnn', widths: [4, 8, 8] }, projector: { name: 'mlp-projector', hiddenDim: 16, outDim: 8 } },
        optimizer: { name: 'sgd' },
        trainer: { steps: 2, batchSize: 32, lr: 0.05, scaleLr: false, logEvery: 1, checkpointEvery: 100 },
        eval: { evaluators: [{ name: 'knn', k: [5] }], baselines: false },
      });
      const out = join(root, 'fg.safetensors');
      const fit = await fitForegroundFromConfig(config, { encoder: 'onnx:tiny-clip', out, images: 64 });
      expect(fit.direction.vector).toHaveLength(64);
      const quality = { name: 'genview-fg-bg', encoder: 'onnx:tiny-clip', direction: out, gamma: 1 };
      await trainFromConfig(runConfigSchema.parse({ ...config, quality }));
      const rows = readFileSync(join(root, 'run', 'quality-weights.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { weights: number[] });
      expect(rows).toHaveLength(2);
      for (const { weights } of rows) {
        expect(weights).toHaveLength(32);
        expect(weights.reduce((a, b) => a + b, 0) / 32).toBeCloseTo(1, 3);
        expect(Math.max(...weights) - Math.min(...weights)).toBeGreaterThan(0.01);
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }, 120_000);
});
