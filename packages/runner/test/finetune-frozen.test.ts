import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus, type FeatureExtractor, Rng, type Tensor2D, type Tensor4D, tf } from '@genview/core';
import { createResNet, createSmallCnn, saveBackboneOnnx, saveTorchWeights } from '@genview/backbones';
import { inMemoryDataset } from '@genview/datasets';
import { rawPixelFeatures } from '@genview/eval';
import { evaluateFromConfig, frozenFractionBaseline, loadRunConfig, trainFromConfig } from '@genview/runner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caught } from './caught';

const dir = mkdtempSync(join(tmpdir(), 'genview-finetune-frozen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 40 grey 4x4 images, class c (0..3) lighting row c, plus a little noise: raw pixels separate the classes. */
function classCoded(seed: number) {
  const rng = new Rng(seed);
  const labels = Int32Array.from({ length: 40 }, (_, i) => i % 4);
  const noise = rng.uniformArray(40 * 16);
  const pixels = Float32Array.from(noise, (v, i) => (Math.floor((i % 16) / 4) === labels[Math.floor(i / 16)] ? 0.9 : 0) + 0.05 * v);
  return inMemoryDataset(pixels, [40, 4, 4, 1], labels, ['a', 'b', 'c', 'd']);
}

/** An encoder that sees nothing: the same features for every image. */
const blind: FeatureExtractor = { featureDim: 3, embed: (images: Tensor4D) => tf.ones([images.shape[0], 3]) as Tensor2D };

describe('frozen-feature baseline at the fine-tuning label budget', () => {
  it('scores an informative encoder near 1 and a blind one at chance, on one labelled image per class for 10 %', async () => {
    const data = { train: classCoded(1), test: classCoded(2) };
    const settings = { fractions: [0.1, 0.5], seed: 3, batchSize: 16 };
    const pixels = await frozenFractionBaseline('raw pixels', rawPixelFeatures(data.train), settings, data);
    expect(pixels.metrics['frozen_knn_top1@10%']).toBe(1);
    expect(pixels.metrics['frozen_linear_top1@10%']).toBeGreaterThan(0.9);
    expect(pixels.metrics['frozen_knn_top1@50%']).toBe(1);
    expect(pixels.description).toMatch(/NOT fine-tuned/);
    expect(pixels.description).toMatch(/10% = 4 labels, 50% = 20 labels; seed 3/);
    const none = await frozenFractionBaseline('blind', blind, settings, data);
    expect(none.metrics['frozen_knn_top1@50%']).toBeLessThan(0.5);
    expect(none.metrics['frozen_linear_top1@50%']).toBeLessThan(0.5);
  });
});

describe('eval.finetune beside frozen and imported encoders', () => {
  let onnx: string;
  beforeAll(async () => {
    const net = createSmallCnn({ inChannels: 3, widths: [4, 8], rng: new Rng(2) });
    onnx = join(dir, 'frozen.onnx');
    await saveBackboneOnnx(onnx, net);
    net.dispose();
  });

  function writeConfig(name: string, backbone: string, finetune: string): string {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(
      path,
      [
        'seed: 2',
        `outDir: ${JSON.stringify(join(dir, name))}`,
        'data:',
        '  train: { name: colored-digits, split: train, count: 48, size: 8 }',
        '  test: { name: colored-digits, split: test, count: 24, size: 8 }',
        'views:',
        '  pipelines:',
        '    - [ { name: random-resized-crop, size: 8, scale: [0.5, 1] } ]',
        '    - [ { name: random-resized-crop, size: 8, scale: [0.5, 1] } ]',
        `framework: { name: simclr, backbone: ${backbone}, projector: { name: mlp-projector, hiddenDim: 16, outDim: 8 } }`,
        'optimizer: { name: adam }',
        'trainer: { steps: 2, batchSize: 16, lr: 1.0e-3, scaleLr: false, checkpointEvery: 2, logEvery: 1 }',
        `eval: { evaluators: [ { name: knn, k: [5] } ], baselines: false, finetune: ${finetune} }`,
      ].join('\n'),
    );
    return path;
  }

  it('genview train reports the frozen onnx: encoder as a row beside the fine-tuned one, on the same subsets', { timeout: 120_000 }, async () => {
    const config = writeConfig('train', '{ name: small-cnn, widths: [4, 8] }', `{ steps: 2, batchSize: 8, fractions: [0.25], frozen: [${JSON.stringify(`onnx:${onnx}`)}] }`);
    const result = await trainFromConfig(loadRunConfig({ path: config }), { events: new EventBus() });
    expect(result.evaluations.map((e) => e.encoder)).toEqual(['simclr', `onnx:${onnx}`]);
    const fineTuned = result.evaluations[0]?.results.find((r) => r.evaluator === 'semi-supervised fine-tuning');
    const frozen = result.evaluations[1]?.results[0];
    const labelled = /25% = (\d+) labels/.exec(fineTuned?.description ?? '')?.[1];
    expect(Number(labelled)).toBeGreaterThan(0);
    expect(frozen?.evaluator).toBe('frozen-feature baseline');
    expect(frozen?.description).toContain(`25% = ${labelled} labels; seed 2`);
    for (const key of ['frozen_linear_top1@25%', 'frozen_knn_top1@25%']) {
      expect(frozen?.metrics[key]).toBeGreaterThanOrEqual(0);
      expect(frozen?.metrics[key]).toBeLessThanOrEqual(1);
    }
  });

  it('genview eval refuses to fine-tune an onnx: encoder, pointing at the frozen arm and safetensors; fine-tunes safetensors: weights', { timeout: 120_000 }, async () => {
    const path = writeConfig('eval', '{ name: resnet-18, widthMultiplier: 0.125 }', '{ steps: 2, batchSize: 8, fractions: [0.25] }');
    const base = loadRunConfig({ path });
    const refused = await caught(() => evaluateFromConfig({ ...base, eval: { ...base.eval, encoder: `onnx:${onnx}` } }, { events: new EventBus() }));
    expect(refused.where).toBe('eval.finetune');
    expect(refused.message).toMatch(/runs in onnxruntime as a frozen model/);
    expect(refused.fix).toMatch(/eval\.finetune\.frozen/);
    expect(refused.fix).toMatch(/safetensors:<file>/);
    const other = await caught(() => evaluateFromConfig({ ...base, eval: { ...base.eval, encoder: `checkpoint:${join(dir, 'train')}` } }, { events: new EventBus() }));
    expect(other.fix).toMatch(/genview eval --config <its outDir>\/config.json/);

    // Two files of the same shape: fine-tuning starts from each file's weights, so the results differ (from a
    // fresh init they would be equal: the subset, classifier init and batch order are seeded alike).
    const fineTune = async (seed: number) => {
      const weights = join(dir, `r18-${seed}.safetensors`);
      const net = createResNet({ depth: 18, widthMultiplier: 0.125, rng: new Rng(seed) });
      await saveTorchWeights(weights, net);
      net.dispose();
      const result = await evaluateFromConfig({ ...base, eval: { ...base.eval, encoder: `safetensors:${weights}` } }, { events: new EventBus() });
      expect(result.evaluations.map((e) => e.encoder)).toEqual([`safetensors:${weights}`]);
      const metrics = result.results.find((r) => r.evaluator === 'semi-supervised fine-tuning')?.metrics;
      expect(metrics?.['finetune_top1@25%']).toBeGreaterThanOrEqual(0);
      return metrics;
    };
    expect(await fineTune(5)).not.toEqual(await fineTune(6));
  });
});
