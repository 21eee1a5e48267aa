import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Dataset, EventBus, type PluginContext, Rng, type Tensor2D, type Tensor4D, definePlugin, tf, z } from '@genview/core';
import { createSmallCnn, saveBackboneOnnx } from '@genview/backbones';
import { inMemoryDataset } from '@genview/datasets';
import { ViewPipeline } from '@genview/views';
import { Trainer, buildPriorFeatures, createRegistry, createRunnerServices, exportRun, loadRunConfig, runConfigSchema, trainFromConfig } from '@genview/runner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caught } from './caught';

const dir = mkdtempSync(join(tmpdir(), 'genview-prior-name-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SHAPE: [number, number, number] = [8, 8, 3];
const COUNT = 24;
/** 24 random 8x8 colour images, labels 0..3. */
function tinyColour(): Dataset {
  const rng = new Rng(4);
  return inMemoryDataset(rng.uniformArray(COUNT * 8 * 8 * 3), [COUNT, ...SHAPE], Int32Array.from({ length: COUNT }, (_, i) => i % 4), ['a', 'b', 'c', 'd']);
}
const tinyPlugin = definePlugin({
  kind: 'dataset',
  name: 'tiny-colour',
  package: 'test',
  description: 'test data',
  configSchema: z.object({ split: z.string().optional() }).strict(),
  create: () => tinyColour(),
});

let net: ReturnType<typeof createSmallCnn>;
const onnx = join(dir, 'prior.onnx');
beforeAll(async () => {
  net = createSmallCnn({ inChannels: 3, widths: [4, 8], rng: new Rng(2) });
  await saveBackboneOnnx(onnx, net);
});
afterAll(() => net.dispose());

function runnerContext(outDir = join(dir, 'run')) {
  const registry = createRegistry([tinyPlugin]);
  const events = new EventBus();
  const config = runConfigSchema.parse({ outDir, framework: { name: 'decoupled', backbone: { name: 'small-cnn', widths: [4, 8] } } });
  const services = createRunnerServices({ config, imageShape: SHAPE, registry, events });
  const context: PluginContext = { rng: new Rng(0), events, registry, services, path: 'framework.prior.source' };
  return { context, services, registry };
}

/** The kernel a registry's `kernel` plugin gives on a feature table, as plain rows. */
async function kernelOf(context: PluginContext, ref: { name: string; [k: string]: unknown }, features: Tensor2D): Promise<number[][]> {
  const kernel = await context.registry.create('kernel', ref, { ...context, path: 'kernel' });
  const k = tf.tidy(() => kernel.matrix(features) as Tensor2D);
  const out = k.arraySync();
  tf.dispose([k, features]);
  return out;
}

function maxDiff(a: number[][], b: number[][]): number {
  let m = 0;
  for (const [i, row] of a.entries()) for (const [j, v] of row.entries()) m = Math.max(m, Math.abs(v - b[i][j]));
  return m;
}

describe('a prior named by an encoder, resolved by the runner services', () => {
  it('onnx:<file> gives the kernel of the network\'s own features, with the encoder-name options', async () => {
    const { context, services } = runnerContext();
    try {
      const source = { kind: 'encoder' as const, data: 'tiny-colour', encoder: `onnx:${onnx}?batch=5`, batchSize: 7 };
      const prior = await buildPriorFeatures(source, context);
      expect(prior.count).toBe(COUNT);
      expect(prior.dim).toBe(8);
      const indices = Int32Array.from([3, 0, 17, 23, 9, 12]);
      const images = (await tinyColour().read(indices)).images as Tensor4D;
      for (const kernel of [{ name: 'cosine' }, { name: 'rbf', sigma: 0.5 }]) {
        const direct = await kernelOf(context, kernel, tf.tidy(() => net.apply(images, { training: false }) as Tensor2D));
        const fromPrior = await kernelOf(context, kernel, prior.featuresFor(indices));
        expect(maxDiff(fromPrior, direct)).toBeLessThan(1e-5);
      }
      // The same encoder syntax as everywhere: norm=half feeds (x - 0.5) / 0.5 to the model.
      const halved = await buildPriorFeatures({ ...source, encoder: `onnx:${onnx}?norm=half` }, context);
      const direct = await kernelOf(context, { name: 'cosine' }, tf.tidy(() => net.apply(tf.div(tf.sub(images, 0.5), 0.5) as Tensor4D, { training: false }) as Tensor2D));
      expect(maxDiff(await kernelOf(context, { name: 'cosine' }, halved.featuresFor(indices)), direct)).toBeLessThan(1e-5);
      expect(maxDiff(await kernelOf(context, { name: 'cosine' }, halved.featuresFor(indices)), await kernelOf(context, { name: 'cosine' }, prior.featuresFor(indices)))).toBeGreaterThan(1e-3);
      images.dispose();
    } finally {
      services.dispose();
    }
  });

  it('refuses names that mean the config\'s own network, unknown forms, and a framework built without services', async () => {
    const { context, services } = runnerContext();
    try {
      const named = (encoder: string) => caught(() => buildPriorFeatures({ kind: 'encoder', data: 'tiny-colour', encoder, batchSize: 8 }, context));
      const random = await named('random:0');
      expect(random.where).toBe('framework.prior.source.encoder');
      expect(random.message).toMatch(/own framework freshly initialised/);
      expect(random.fix).toMatch(/encoder: \{ backbone: \{ name: small-cnn \}, seed: 0 \}/);
      const safetensors = await named('safetensors:weights.safetensors');
      expect(safetensors.message).toMatch(/this config's own backbone, the network being trained/);
      expect(safetensors.fix).toMatch(/weights: <file.safetensors>/);
      for (const name of ['resnet-18', 'onnx:', 'clip:model']) {
        const e = await named(name);
        expect(e.message).toMatch(/is not an encoder a prior takes/);
        expect(e.fix).toMatch(/onnx:<file.onnx>.*checkpoint:<run directory>/);
      }
      // The service's own errors come through, naming the file.
      expect((await named(`onnx:${join(dir, 'missing.onnx')}`)).message).toMatch(/no ONNX model at .*missing\.onnx/);
      const noServices = await caught(() => buildPriorFeatures({ kind: 'encoder', data: 'tiny-colour', encoder: `onnx:${onnx}`, batchSize: 8 }, { ...context, services: undefined }));
      expect(noServices.message).toMatch(/built without one/);
      expect(noServices.fix).toMatch(/createRunnerServices/);
    } finally {
      services.dispose();
    }
  });

  it('a framework built without services (a checkpoint read back for its weights) builds, and refuses to train', async () => {
    const registry = createRegistry([tinyPlugin]);
    const context = { rng: new Rng(1), events: new EventBus() };
    const framework = await registry.create(
      'framework',
      {
        name: 'decoupled',
        inputShape: SHAPE,
        backbone: { name: 'small-cnn', widths: [4, 8] },
        projector: { name: 'mlp-projector', hiddenDim: 16, outDim: 8 },
        prior: { source: { kind: 'encoder', data: 'tiny-colour', encoder: `onnx:${onnx}` }, kernel: 'cosine' },
      },
      { ...context, path: 'framework' },
    );
    const views = await Promise.all([0, 1].map(async (v) => new ViewPipeline([await registry.create('augment', { name: 'horizontal-flip' }, { ...context, path: `v${v}` })])));
    const trainer = new Trainer({ framework, data: tinyColour(), views, optimizer: { name: 'sgd' }, learningRate: () => 0.01, totalSteps: 2, batchSize: 8, seed: 1, events: context.events });
    try {
      expect(framework.encoder().featureDim).toBe(8);
      const e = await caught(() => trainer.step(0));
      expect(e.where).toBe('framework.prior.source.encoder');
      expect(e.message).toMatch(/built without one/);
    } finally {
      trainer.dispose();
      framework.dispose();
    }
  });
});

describe('genview train with an encoder-named prior', () => {
  it('the example config names an onnx: prior on the dataset it trains on', () => {
    const config = loadRunConfig({ path: fileURLToPath(new URL('../../../examples/configs/decoupled-onnx-prior.yaml', import.meta.url)) });
    const framework = config.framework as unknown as { prior: { source: { kind: string; data: unknown; encoder: string } } };
    expect(framework.prior.source.kind).toBe('encoder');
    expect(framework.prior.source.encoder).toMatch(/^onnx:.+\.onnx$/);
    expect(framework.prior.source.data).toEqual(config.data.train);
  });

  function writeConfig(name: string, encoder: string): string {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(
      path,
      [
        'seed: 3',
        `outDir: ${JSON.stringify(join(dir, name))}`,
        'data:',
        '  train: { name: colored-digits, split: train, count: 48, size: 8 }',
        '  test: { name: colored-digits, split: test, count: 24, size: 8 }',
        'views:',
        '  pipelines:',
        '    - [ { name: random-resized-crop, size: 8, scale: [0.5, 1] } ]',
        '    - [ { name: random-resized-crop, size: 8, scale: [0.5, 1] } ]',
        'framework:',
        '  name: decoupled',
        '  backbone: { name: small-cnn, widths: [4, 8] }',
        '  projector: { name: mlp-projector, hiddenDim: 16, outDim: 8 }',
        '  prior:',
        `    source: { kind: encoder, data: { name: colored-digits, split: train, count: 48, size: 8 }, encoder: ${JSON.stringify(encoder)}, batchSize: 16 }`,
        '    kernel: cosine',
        'optimizer: { name: adam }',
        'trainer: { steps: 4, batchSize: 16, lr: 1.0e-3, scaleLr: false, checkpointEvery: 2, logEvery: 1 }',
        'eval: { evaluators: [ { name: knn, k: [5] } ], baselines: true }',
      ].join('\n'),
    );
    return path;
  }

  it('trains from onnx:<file>, then a second run takes the first as checkpoint:<dir>; the run\'s own checkpoint is refused', { timeout: 120_000 }, async () => {
    const events = new EventBus();
    const logs: string[] = [];
    events.on('log', (e) => logs.push(e.message));
    let priorPasses = 0;
    events.on('progress', (e) => {
      if (e.task === 'prior features' && e.done === e.total) priorPasses++;
    });
    const first = await trainFromConfig(loadRunConfig({ path: writeConfig('onnx-prior', `onnx:${onnx}?norm=half`) }), { events });
    expect(first.summary.steps).toBe(4);
    expect(Number.isFinite(first.summary.finalLoss)).toBe(true);
    expect(first.evaluations.map((e) => e.encoder)).toContain('decoupled');
    // One ONNX session and one pass over the data, before training.
    expect(logs.filter((m) => m.includes(`feature extractor onnx:${onnx}?norm=half: ONNX`))).toHaveLength(1);
    expect(priorPasses).toBe(1);

    // Read back for its weights (no prior needed): another run's prior, and an export.
    const second = await trainFromConfig(loadRunConfig({ path: writeConfig('checkpoint-prior', `checkpoint:${join(dir, 'onnx-prior')}`) }), { events: new EventBus() });
    expect(Number.isFinite(second.summary.finalLoss)).toBe(true);
    const exported = await exportRun({ runDir: join(dir, 'onnx-prior'), out: join(dir, 'onnx-prior.safetensors'), format: 'safetensors' });
    expect(exported).toMatchObject({ framework: 'decoupled', step: 4 });
    expect(readFileSync(exported.out).length).toBeGreaterThan(0);

    const own = await caught(() => trainFromConfig(loadRunConfig({ path: writeConfig('own', `checkpoint:${join(dir, 'own')}`) }), { events: new EventBus() }));
    expect(own.where).toBe('framework.prior.source.encoder');
    expect(own.message).toMatch(/this run's own checkpoint/);
    const ownStage = await caught(() => trainFromConfig(loadRunConfig({ path: writeConfig('own', `checkpoint:${join(dir, 'own', 'stage-1')}`) }), { events: new EventBus() }));
    expect(ownStage.message).toMatch(/this run's own checkpoint/);
    // Refused in preflight: nothing was trained or written.
    expect(existsSync(join(dir, 'own', 'config.json'))).toBe(false);
    const random = await caught(() => trainFromConfig(loadRunConfig({ path: writeConfig('random', 'random:1') }), { events: new EventBus() }));
    expect(random.where).toBe('framework.prior.source.encoder');
    expect(random.message).toMatch(/own framework freshly initialised/);
  });
});
