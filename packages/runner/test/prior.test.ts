import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Dataset, EventBus, type LossInputs, Rng, type Tensor2D, definePlugin, encodeSafetensors, tf, z } from '@genview/core';
import { rawPixelFeatures } from '@genview/eval';
import { decoupledUniformity } from '@genview/losses';
import { Trainer, createRegistry, encoderPrior, filePrior, labelAttributePrior, loadRunConfig, tablePrior } from '@genview/runner';
import { inMemoryDataset } from '@genview/datasets';
import { ViewPipeline } from '@genview/views';
import { describe, expect, it } from 'vitest';
import { caught } from './caught';

/** 32 random 8x8 grey images with labels 0..3. */
function tinyData(): Dataset {
  const rng = new Rng(3);
  return inMemoryDataset(rng.uniformArray(32 * 8 * 8), [32, 8, 8, 1], Int32Array.from({ length: 32 }, (_, i) => i % 4), ['a', 'b', 'c', 'd']);
}

const rows = (t: Tensor2D): number[][] => {
  const out = t.arraySync();
  t.dispose();
  return out;
};

describe('prior features', () => {
  it('label attributes: columns map class ids, rows follow the requested indices', async () => {
    const prior = labelAttributePrior(tinyData(), { columns: [[0, 0, 1, 1]], includeLabel: true });
    expect(prior.dim).toBe(2);
    expect(prior.count).toBe(32);
    expect(rows(prior.featuresFor(Int32Array.from([3, 0, 6])))).toEqual([
      [1, 3],
      [0, 0],
      [1, 2],
    ]);
    expect(rows(labelAttributePrior(tinyData(), { columns: [[0, 0, 1, 1]], includeIndex: true }).featuresFor(Int32Array.from([6])))).toEqual([[1, 6]]);
    expect((await caught(() => prior.featuresFor(Int32Array.from([32])))).message).toMatch(/index 32 has no prior features/);
    expect((await caught(() => labelAttributePrior(tinyData(), { columns: [[0, 1]] }))).message).toMatch(/column 0 has 2 entries but class id 2/);
    const unlabelled = inMemoryDataset(new Float32Array(4 * 4), [4, 2, 2, 1]);
    expect((await caught(() => labelAttributePrior(unlabelled))).message).toMatch(/has no labels/);
  });

  it('a frozen encoder is run once over the dataset (raw pixels here)', async () => {
    const data = tinyData();
    const prior = await encoderPrior(data, rawPixelFeatures(data), { batchSize: 10 });
    expect(prior.dim).toBe(64);
    const batch = await data.read([5]);
    const expected = Array.from(batch.images.dataSync());
    batch.images.dispose();
    const got = rows(prior.featuresFor(Int32Array.from([5])))[0];
    for (const [i, v] of got.entries()) expect(v).toBeCloseTo(expected[i], 6);
  });

  it('reads .safetensors and .npy feature files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'genview-prior-'));
    const values = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const st = join(dir, 'features.safetensors');
    writeFileSync(st, encodeSafetensors({ feats: { dtype: 'float32', shape: [3, 2], data: values } }));
    expect(rows(filePrior(st).featuresFor(Int32Array.from([2, 0])))).toEqual([
      [5, 6],
      [1, 2],
    ]);
    // A version-1 .npy: magic, version, little-endian header length, a dict padded to 128 bytes, the data.
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
    const header = `${dict}${' '.repeat(128 - 10 - dict.length - 1)}\n`;
    const npy = new Uint8Array(10 + header.length + values.byteLength);
    npy.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
    npy.set(new TextEncoder().encode(header), 10);
    npy.set(new Uint8Array(values.buffer), 10 + header.length);
    const np = join(dir, 'features.npy');
    writeFileSync(np, npy);
    expect(rows(filePrior(np).featuresFor(Int32Array.from([1])))).toEqual([[3, 4]]);
    expect(() => filePrior(join(dir, 'missing.npy'))).toThrow(/cannot read prior features/);
    expect(() => tablePrior(Float32Array.from([1, Number.NaN]), 2)).toThrow(/is NaN/);
  });
});

describe('decoupled framework', () => {
  const tinyPlugin = definePlugin({
    kind: 'dataset',
    name: 'tiny-labelled',
    package: 'test',
    description: 'test data',
    configSchema: z.object({}).strict(),
    create: () => tinyData(),
  });
  const seen: number[][] = [];
  /** Decoupled uniformity that also records the kernel's shape, to prove the framework passes it. */
  const recording = definePlugin({
    kind: 'loss',
    name: 'recording-du',
    package: 'test',
    description: 'test loss',
    configSchema: z.object({}).strict(),
    create: () => ({
      name: 'recording-du',
      requires: ['kernel'] as const,
      crossProcess: { kind: 'local' } as const,
      compute: (inputs: LossInputs) => {
        seen.push(inputs.kernel ? [...inputs.kernel.shape] : []);
        return decoupledUniformity(inputs.views, { kernel: inputs.kernel, lambda: 0.01 });
      },
    }),
  });
  const base = {
    name: 'decoupled',
    inputShape: [8, 8, 1],
    backbone: { name: 'small-cnn', widths: [4, 8] },
    projector: { name: 'mlp-projector', hiddenDim: 16, outDim: 8 },
  };

  async function trainer(framework: Record<string, unknown>) {
    const registry = createRegistry([tinyPlugin, recording]);
    const context = { rng: new Rng(11), events: new EventBus() };
    const built = await registry.create('framework', framework as { name: string }, { ...context, path: 'framework' });
    const views = await Promise.all(
      [0, 1].map(async (v) => new ViewPipeline([await registry.create('augment', { name: 'horizontal-flip' }, { ...context, path: `v${v}` })])),
    );
    const run = new Trainer({
      framework: built,
      data: tinyData(),
      views,
      optimizer: { name: 'sgd', momentum: 0.9 },
      learningRate: () => 0.05,
      totalSteps: 6,
      batchSize: 8,
      seed: 5,
      events: context.events,
    });
    return { run, built, registry, context };
  }

  it('computes K on the batch prior features and passes it to the loss; no tensors leak', async () => {
    seen.length = 0;
    const { run, built } = await trainer({
      ...base,
      loss: 'recording-du',
      prior: { source: { kind: 'attributes', data: 'tiny-labelled', columns: [[0, 0, 1, 1]] }, kernel: 'attributes' },
    });
    await run.step(0);
    const before = tf.memory().numTensors;
    for (let s = 1; s < 4; s++) expect(Number.isFinite((await run.step(s)).loss)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    expect(seen).toEqual([
      [8, 8],
      [8, 8],
      [8, 8],
      [8, 8],
    ]);
    run.dispose();
    built.dispose();
  });

  it('trains with the default loss and a frozen-encoder prior, and refuses a kernel loss without a prior', async () => {
    const { run, built } = await trainer({
      ...base,
      prior: { source: { kind: 'encoder', data: 'tiny-labelled', encoder: { backbone: { name: 'small-cnn', widths: [4] } } }, kernel: { name: 'rbf', sigma: 1 } },
    });
    const summary = await run.run();
    expect(Number.isFinite(summary.finalLoss)).toBe(true);
    run.dispose();
    built.dispose();
    const e = await caught(() => trainer({ ...base, loss: 'recording-du' }));
    expect(e.message).toMatch(/needs a prior kernel but no prior is configured/);
    expect(e.message).toMatch(/framework\.prior/);
  });

  it('the example config builds a decoupled framework with a weak-attribute prior', async () => {
    const config = loadRunConfig({ path: fileURLToPath(new URL('../../../examples/configs/decoupled-fashion-mnist.yaml', import.meta.url)) });
    const registry = createRegistry();
    const framework = await registry.create(
      'framework',
      { ...(config.framework as Record<string, unknown>), name: 'decoupled', inputShape: [28, 28, 1] },
      { rng: new Rng(0), events: new EventBus(), path: 'framework' },
    );
    expect(framework.name).toBe('decoupled');
    framework.dispose();
  });
});
