import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Dataset, EventBus, type PluginContext, Rng, type Tensor3D, definePlugin, tf, z } from '@genview/core';
import { knnClassify } from '@genview/eval';
import { Trainer, buildPriorFeatures, createRegistry, generativeFeatures, generativePrior, loadRunConfig, medianPairwiseDistance, tablePrior } from '@genview/runner';
import { inMemoryDataset } from '@genview/datasets';
import { OnnxDiffusionPipeline, ViewPipeline } from '@genview/views';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caught } from './caught';

// Made by tools/diffusion/tiny_unclip/train.py --random: the real model's layout and signatures, random weights.
const FIXTURE = fileURLToPath(new URL('../../views/test/fixtures/tiny-random-unclip', import.meta.url));

/** `count` random images in [0, 1] with labels 0..3. */
function randomImages(count: number, shape: [number, number, number], seed = 3): Dataset {
  const rng = new Rng(seed);
  return inMemoryDataset(rng.uniformArray(count * shape[0] * shape[1] * shape[2]), [count, ...shape], Int32Array.from({ length: count }, (_, i) => i % 4), ['a', 'b', 'c', 'd']);
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

const context = (path: string): PluginContext => ({ rng: new Rng(0), events: new EventBus(), registry: createRegistry(), path });

describe('generative prior on the tiny random unCLIP fixture', () => {
  let pipeline: OnnxDiffusionPipeline;
  beforeAll(async () => {
    pipeline = await OnnxDiffusionPipeline.load(FIXTURE, { threads: 1 });
  });
  afterAll(async () => {
    await pipeline.dispose();
  });

  it('has one row per sample, each the image encoder embedding of that sample, across uneven batches', async () => {
    const data = randomImages(10, [28, 28, 1]);
    const before = tf.memory().numTensors;
    const set = await generativeFeatures(data, FIXTURE, { batchSize: 4, threads: 1 });
    expect(tf.memory().numTensors).toBe(before);
    expect(set.dim).toBeGreaterThan(0);
    expect(set.features.length).toBe(10 * set.dim);
    // Rows 0, 5 and 9 sit in the first, second and last (partial) batch.
    for (const i of [0, 5, 9]) {
      const batch = await data.read([i]);
      const image = tf.squeeze(batch.images, [0]) as Tensor3D;
      batch.images.dispose();
      const [alone] = await pipeline.embedImages([image]);
      image.dispose();
      expect(maxAbsDiff(set.features.subarray(i * set.dim, (i + 1) * set.dim), alone)).toBeLessThan(1e-5);
    }
  });

  it('is deterministic: the same dataset gives the same table', async () => {
    const data = randomImages(6, [28, 28, 1]);
    const a = await generativeFeatures(data, FIXTURE, { batchSize: 6, threads: 1 });
    const b = await generativeFeatures(data, FIXTURE, { batchSize: 6, threads: 1 });
    expect(maxAbsDiff(a.features, b.features)).toBe(0);
  });

  it('feeds a colour dataset to a grey encoder as the channel mean, at the encoder size', async () => {
    const colour = randomImages(4, [20, 20, 3]);
    const batch = await colour.read([0, 1, 2, 3]);
    const grey = tf.mean(batch.images, -1, true);
    const greyData = inMemoryDataset(grey.dataSync() as Float32Array, [4, 20, 20, 1]);
    tf.dispose([batch.images, grey]);
    const fromColour = await generativeFeatures(colour, FIXTURE, { threads: 1 });
    const fromGrey = await generativeFeatures(greyData, FIXTURE, { threads: 1 });
    expect(fromColour.features.length).toBe(fromGrey.features.length);
    expect(maxAbsDiff(fromColour.features, fromGrey.features)).toBeLessThan(1e-4);
  });

  it('names the config field and the fix for a folder that is no pipeline, or one without an image encoder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'genview-generative-prior-'));
    try {
      const data = randomImages(2, [28, 28, 1]);
      const empty = await caught(() => generativePrior(data, dir, {}, 'framework.prior.source'));
      expect(empty.where).toBe('framework.prior.source.pipeline');
      expect(empty.message).toMatch(/model_index\.json/);
      expect(empty.fix).toMatch(/standard ONNX diffusion layout/);

      const noEncoder = join(dir, 'no-image-encoder');
      await cp(FIXTURE, noEncoder, { recursive: true });
      await rm(join(noEncoder, 'image_encoder'), { recursive: true });
      const missing = await caught(() => generativePrior(data, noEncoder, {}, 'framework.prior.source'));
      expect(missing.code).toBe('NOT_FOUND');
      expect(missing.where).toBe('framework.prior.source.pipeline');
      expect(missing.message).toMatch(/has no image_encoder\/model\.onnx/);
      expect(missing.fix).toMatch(/unCLIP export.*tiny-unclip/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a YAML config names it as the decoupled framework prior, and a step trains with its RBF kernel', async () => {
    const tiny = definePlugin({
      kind: 'dataset',
      name: 'tiny-random',
      package: 'test',
      description: 'test data',
      configSchema: z.object({}).strict(),
      create: () => randomImages(16, [8, 8, 1]),
    });
    const dir = await mkdtemp(join(tmpdir(), 'genview-generative-config-'));
    try {
      const path = join(dir, 'config.yaml');
      await writeFile(
        path,
        [
          'framework:',
          '  name: decoupled',
          '  backbone: { name: small-cnn, widths: [4, 8] }',
          '  projector: { name: mlp-projector, hiddenDim: 16, outDim: 8 }',
          '  prior:',
          `    source: { kind: generative, data: tiny-random, pipeline: ${JSON.stringify(FIXTURE)}, batchSize: 5, threads: 1 }`,
          '    kernel: { name: rbf, sigma: 1 }',
        ].join('\n'),
      );
      const config = loadRunConfig({ path });
      const registry = createRegistry([tiny]);
      const events = new EventBus();
      const framework = await registry.create('framework', { ...(config.framework as { name: string }), inputShape: [8, 8, 1] }, { rng: new Rng(1), events, path: 'framework' });
      const views = await Promise.all([0, 1].map(async (v) => new ViewPipeline([await registry.create('augment', { name: 'horizontal-flip' }, { rng: new Rng(v), events, path: `v${v}` })])));
      const trainer = new Trainer({ framework, data: randomImages(16, [8, 8, 1]), views, optimizer: { name: 'sgd' }, learningRate: () => 0.05, totalSteps: 2, batchSize: 8, seed: 2, events });
      expect(Number.isFinite((await trainer.step(0)).loss)).toBe(true);
      trainer.dispose();
      framework.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('generative prior from the trained tiny unCLIP (Fashion-MNIST)', () => {
  it('gives one 64-d row per image that groups images of a class (1-NN far above chance)', async () => {
    const source = { kind: 'generative', data: { name: 'fashion-mnist', split: 'test', limit: 300 }, pipeline: 'tiny-unclip', batchSize: 128, threads: 1 } as const;
    const prior = await buildPriorFeatures({ ...source }, context('prior'));
    expect(prior.count).toBe(300);
    expect(prior.dim).toBe(64);
    const all = Int32Array.from({ length: 300 }, (_, i) => i);
    const table = prior.featuresFor(all);
    const values = table.dataSync() as Float32Array;
    table.dispose();
    expect(values.every(Number.isFinite)).toBe(true);
    const again = await buildPriorFeatures({ ...source }, context('prior'));
    const second = again.featuresFor(all);
    expect(maxAbsDiff(values, second.dataSync())).toBe(0);
    second.dispose();
    // The first 200 images vote for the labels of the last 100: a trained encoder's embedding groups classes.
    const labels = Int32Array.from((await createRegistry().create('dataset', source.data, context('data'))).labels ?? []);
    const [result] = knnClassify({
      trainFeatures: values.subarray(0, 200 * 64),
      trainLabels: labels.subarray(0, 200),
      testFeatures: values.subarray(200 * 64),
      testLabels: labels.subarray(200),
      numClasses: 10,
      k: [1],
    });
    expect(result.top1).toBeGreaterThan(0.5);
  });
});

describe('median pairwise distance (RBF bandwidth heuristic)', () => {
  it('matches known medians and never pairs a sample with itself', () => {
    // Points 0, 1, 3 on a line: distinct pairs are 1, 2 or 3 apart, equally often, so the median is 2.
    expect(medianPairwiseDistance(tablePrior(Float32Array.from([0, 1, 3]), 1), { pairs: 2001 })).toBe(2);
    // Two points 5 apart: every distinct pair measures 5 (a self-pair would give 0).
    expect(medianPairwiseDistance(tablePrior(Float32Array.from([0, 0, 3, 4]), 2), { pairs: 100 })).toBe(5);
  });
});
