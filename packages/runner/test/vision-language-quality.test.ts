import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventBus, tf } from '@genview/core';
import { createRegistry, createRunnerServices, runConfigSchema } from '@genview/runner';
import { describe, expect, it } from 'vitest';
import { cli, shapesConfig } from './vision-language-run';

/** GenView++'s image-text weights in training: a frozen ONNX CLIP scores each view against its caption. */
describe('image-text quality weights with a frozen ONNX CLIP', () => {
  it('`genview train` weighs every clip pair by alignment-diversity through onnx:tiny-clip', async () => {
    const run = shapesConfig({ framework: { name: 'clip' }, steps: 3, evaluators: [{ name: 'knn', k: [5] }], baselines: false, trainCount: 128, batchSize: 32 });
    const direction = Array.from({ length: 64 }, (_, i) => (i === 0 ? 1 : 0));
    const config = {
      ...run.config,
      trainer: { ...(run.config.trainer as object), logEvery: 1 },
      // The bundled tiny CLIP sees 28x28 grey; these 16x16 colour shapes are resized and averaged to grey for it.
      quality: { name: 'alignment-diversity', pairs: 'image-text', alignment: 'onnx:tiny-clip', encoder: 'random:3', direction: { vector: direction } },
    };
    writeFileSync(run.file, JSON.stringify(config));
    const output = await cli(['train', '--config', run.file]);
    expect(output).toMatch(/vision-language model onnx:tiny-clip: ONNX, 64-d joint space/);
    const rows = readFileSync(join(run.outDir, 'quality-weights.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { step: number; weights: number[] });
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3]);
    for (const { weights } of rows) {
      expect(weights).toHaveLength(32);
      expect(weights.reduce((a, b) => a + b, 0) / 32).toBeCloseTo(1, 3);
      expect(Math.max(...weights) - Math.min(...weights)).toBeGreaterThan(0.05);
    }
  }, 120_000);

  it('resolves onnx:<folder> once per name, and names what it accepts', async () => {
    const services = createRunnerServices({ config: runConfigSchema.parse({}), imageShape: [28, 28, 1], registry: createRegistry(), events: new EventBus() });
    const first = services.visionLanguageModel('onnx:tiny-clip');
    expect(services.visionLanguageModel('onnx:tiny-clip')).toBe(first);
    const model = await first;
    const images = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D;
    const rows = await model.embedImages(images);
    expect(rows.shape).toEqual([2, 64]);
    tf.dispose([images, rows]);
    await expect(services.visionLanguageModel('onnx:/no/such/folder')).rejects.toThrow(/no folder at \/no\/such\/folder/);
    await expect(services.visionLanguageModel('clip')).rejects.toThrow(/no vision-language model named "clip".*onnx:<folder>.*checkpoint:<run directory>/s);
    await expect(services.visionLanguageModel('checkpoint:/no/such/run')).rejects.toThrow(/neither config\.json nor results\.json/);
    services.dispose();
  });

  it('releases a model whose load finishes after dispose(), and says so', async () => {
    const services = createRunnerServices({ config: runConfigSchema.parse({}), imageShape: [28, 28, 1], registry: createRegistry(), events: new EventBus() });
    const late = services.visionLanguageModel('onnx:tiny-clip');
    services.dispose();
    await expect(late).rejects.toThrow(/onnx:tiny-clip finished loading after the services were disposed, so it was released/);
  });
});
