import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventBus, Rng, decodeSafetensors, isGenviewError, tf } from '@genview/core';
import { loadForegroundDirection } from '@genview/quality';
import {
  type RunConfig,
  createRegistry,
  createRunnerServices,
  fitForegroundFromConfig,
  generateFromConfig,
  loadModelState,
  main,
  namespacedVariables,
  readRunConfig,
  runConfigSchema,
  trainFromConfig,
} from '@genview/runner';
import { ViewStore } from '@genview/views';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sink } from './output-sink';

// The tiny random-weight pipeline of @genview/views' tests (see generate.test.ts).
const PIPELINE = fileURLToPath(new URL('../../views/test/fixtures/tiny-random-unclip', import.meta.url));
const IMAGES = 24;

/** 24 Fashion-MNIST images, a small CNN with a 7x7 token map, three steps: the whole GenView path in seconds. */
function config(root: string, extra: Record<string, unknown> = {}): RunConfig {
  return runConfigSchema.parse({
    seed: 3,
    outDir: join(root, 'run'),
    data: {
      train: { name: 'fashion-mnist', split: 'train', limit: IMAGES },
      test: { name: 'fashion-mnist', split: 'test', limit: 40 },
    },
    views: { preset: 'simclr' },
    framework: {
      name: 'simclr',
      backbone: { name: 'small-cnn', widths: [4, 8, 8] },
      projector: { name: 'mlp-projector', hiddenDim: 16, outDim: 8 },
    },
    optimizer: { name: 'sgd' },
    trainer: { steps: 3, batchSize: 8, lr: 0.05, scaleLr: false, logEvery: 1, checkpointEvery: 2 },
    eval: { evaluators: [{ name: 'knn', k: [5] }], baselines: false },
    generate: {
      generator: { name: 'onnx-diffusion', path: PIPELINE, steps: 2, threads: 1 },
      conditioning: { name: 'genview-adaptive-noise', strategy: 'fixed', level: 0 },
      store: join(root, 'views'),
      viewsPerImage: 2,
      shardSize: 12,
      batchSize: 12,
    },
    ...extra,
  });
}


/** Trains one config; returns the result and the per-step losses. */
async function train(run: RunConfig) {
  const events = new EventBus();
  const losses: number[] = [];
  events.on('metric', ({ values, split }) => {
    if (split === undefined) losses.push(values.loss as number);
  });
  const result = await trainFromConfig(run, { events });
  return { result, losses };
}

describe('GenView training from a config', () => {
  let root: string;
  let storeDir: string;
  let fg: string;
  // The GenView run; later tests use its checkpoint as an encoder.
  let run: RunConfig;
  let trained: ReturnType<typeof train> | undefined;
  const genviewRun = () => {
    trained ??= train(run);
    return trained;
  };
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'genview-train-genview-'));
    const base = config(root);
    const store = await generateFromConfig(base);
    expect(store.viewsWritten).toBe(IMAGES * 2);
    storeDir = store.store;
    fg = join(root, 'fg', 'random.safetensors');
    await fitForegroundFromConfig(base, { encoder: 'random:0', out: fg, images: 16 });
    run = config(root, {
      views: { preset: 'simclr', generated: { generator: { name: 'view-store', dir: storeDir } } },
      quality: { name: 'genview-fg-bg', encoder: 'random:0', direction: fg },
    });
  }, 300_000);
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('fit-foreground with random:0 writes a loadable direction over the first N images', async () => {
    const out = join(root, 'fg', 'again.safetensors');
    const fit = await fitForegroundFromConfig(config(root), { encoder: 'random:0', out, images: 16 });
    expect(fit.images).toBe(16);
    expect(fit.direction.vector).toHaveLength(8);
    const loaded = await loadForegroundDirection(out);
    expect(loaded.vector).toEqual(fit.direction.vector);
    expect(loaded.threshold).toBe(fit.direction.threshold);
    expect(loaded.foregroundFraction).toBeCloseTo(0.4, 1);
    // Same encoder, same images: the fit in beforeAll wrote the same direction.
    expect((await loadForegroundDirection(fg)).vector).toEqual(fit.direction.vector);
  }, 120_000);

  it('generate resolves the adaptive strategy\'s encoder through the runner and records each level', async () => {
    const adaptive = config(root, {
      generate: {
        ...config(root).generate,
        conditioning: { name: 'genview-adaptive-noise', strategy: 'adaptive', encoder: 'random:0', direction: fg },
        store: join(root, 'views-adaptive'),
        viewsPerImage: 1,
      },
    });
    const result = await generateFromConfig(adaptive);
    expect(result.viewsWritten).toBe(IMAGES);
    const store = await ViewStore.open(result.store);
    const levels = new Set<number>();
    for (const index of [0, 5, 11, 23]) {
      levels.add((await store.readView(index, 0)).params.noiseLevel as number);
    }
    for (const level of levels) expect([0, 100, 200, 300, 400]).toContain(level);
  }, 120_000);

  it('trains on stored generated views with quality weights: finite losses and weights, metrics written', async () => {
    expect(run.views.generated?.probability).toBe(1);
    const { result, losses } = await genviewRun();
    expect(result.summary.steps).toBe(3);
    expect(losses).toHaveLength(3);
    for (const loss of losses) expect(Number.isFinite(loss)).toBe(true);

    // Same seed, same batches and augmentations: only the sources and the weights differ, and each shows.
    const plain = await train(config(join(root, 'plain')));
    const generatedOnly = await train(config(join(root, 'generated-only'), { views: run.views }));
    expect(generatedOnly.losses[0]).not.toBe(plain.losses[0]);
    expect(losses[0]).not.toBe(generatedOnly.losses[0]);

    const metrics = readFileSync(join(run.outDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3]);
    // The pair weights of every logged step, for the report's histogram: batch 8, mean 1 (N·score/Σscore).
    const weights = readFileSync(join(run.outDir, 'quality-weights.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(weights.map((w) => w.step)).toEqual([1, 2, 3]);
    for (const { weights: w } of weights) {
      expect(w).toHaveLength(8);
      expect(w.reduce((a: number, b: number) => a + b, 0) / 8).toBeCloseTo(1, 3);
    }
    expect(existsSync(join(root, 'plain', 'run', 'quality-weights.jsonl'))).toBe(false);
    const knn = result.evaluations[0]?.results[0];
    expect(knn?.evaluator).toBe('knn');
    for (const value of Object.values(knn?.metrics ?? {})) expect(Number.isFinite(value)).toBe(true);

    const checkpoint = decodeSafetensors(new Uint8Array(readFileSync(join(run.outDir, 'last.safetensors'))));
    const model = Object.entries(checkpoint.tensors).filter(([key]) => key.startsWith('model/'));
    expect(model.length).toBeGreaterThan(0);
    for (const [key, tensor] of model) expect(tensor.data.every(Number.isFinite), key).toBe(true);

    // The run left its config, with the input shape resolved, for checkpoint:<outDir>.
    const saved = readRunConfig(run.outDir);
    expect(saved.framework).toMatchObject({ name: 'simclr', inputShape: [28, 28, 1] });
    expect(saved.views.generated).toEqual(run.views.generated);
  }, 300_000);

  it('serves checkpoint:<run> (the trained weights) and random:<seed> encoders with patch tokens; names anything else', async () => {
    await genviewRun();
    const registry = createRegistry();
    const services = createRunnerServices({ config: run, imageShape: [28, 28, 1], registry, events: new EventBus() });
    const images = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const trained = await services.featureExtractor(`checkpoint:${run.outDir}`);
    const random0 = await services.featureExtractor('random:0');
    const again = await services.featureExtractor('random:0');
    const random1 = await services.featureExtractor('random:1');
    const tokens = trained.patchTokens?.(images);
    expect(tokens?.shape).toEqual([2, 49, 8]);
    const embed = (e: typeof trained) => {
      const out = e.embed(images);
      const values = Array.from(out.dataSync());
      out.dispose();
      return values;
    };
    expect(embed(random0)).toEqual(embed(again));
    expect(embed(random0)).not.toEqual(embed(random1));
    // The checkpoint's weights were loaded: the same network loaded by hand embeds identically, a fresh one does not.
    const byHand = await registry.create('framework', { ...(run.framework as object), name: 'simclr', inputShape: [28, 28, 1] }, { rng: new Rng(3), events: new EventBus() });
    const fresh = embed(byHand.encoder());
    loadModelState(run.outDir, namespacedVariables(byHand.stateModules()));
    expect(embed(trained)).toEqual(embed(byHand.encoder()));
    expect(embed(trained)).not.toEqual(fresh);
    byHand.dispose();
    tokens?.dispose();

    for (const name of ['framework', 'random:x', 'checkpoint:']) {
      const error = await services.featureExtractor(name).catch((e: unknown) => e);
      expect(isGenviewError(error, 'NOT_FOUND'), name).toBe(true);
      expect(String(error)).toMatch(/checkpoint:<run directory>.*random:<seed>/);
    }
    const missing = await services.featureExtractor(`checkpoint:${join(root, 'nowhere')}`).catch((e: unknown) => e);
    expect(isGenviewError(missing, 'NOT_FOUND')).toBe(true);
    const otherShape = createRunnerServices({ config: run, imageShape: [32, 32, 3], registry, events: new EventBus() });
    await expect(otherShape.featureExtractor(`checkpoint:${run.outDir}`)).rejects.toThrow(/BAD_SHAPE.*\[28, 28, 1\].*\[32, 32, 3\]/);
    otherShape.dispose();
    images.dispose();
    services.dispose();
  }, 120_000);

  it('genview fit-foreground writes a loadable direction fitted with the trained encoder and reports it', async () => {
    await genviewRun();
    const dir = join(root, 'cli');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'run.yaml');
    writeFileSync(file, JSON.stringify(run));
    const out = join(dir, 'fg.safetensors');
    const stdout = sink();
    const stderr = sink();
    const code = await main(['fit-foreground', '--config', file, '--encoder', `checkpoint:${run.outDir}`, '--out', out, '--images', '12', '--plain'], stdout, stderr);
    expect(stderr.text()).not.toMatch(/genview:/);
    expect(code).toBe(0);
    expect(existsSync(out)).toBe(true);
    const direction = await loadForegroundDirection(out);
    expect(direction.vector).toHaveLength(8);
    expect(stdout.text()).toMatch(/from 12 images/);
    expect(stdout.text()).toContain(`threshold ${direction.threshold.toPrecision(6)}`);
    expect(stdout.text()).toMatch(/foreground fraction \d+\.\d %.*explained variance \d+\.\d %/);
    // stdout holds the two result lines only; the progress went to stderr.
    expect(stdout.text().trim().split('\n')).toHaveLength(2);

    const json = sink();
    const log = sink();
    expect(await main(['fit-foreground', '--config', file, '--encoder', `checkpoint:${run.outDir}`, '--out', out, '--images', '12', '--json'], json, log)).toBe(0);
    const printed = JSON.parse(json.text()) as { out: string; images: number; direction: { vector: number[]; threshold: number } };
    expect(printed.out).toBe(out);
    expect(printed.images).toBe(12);
    expect(printed.direction.vector).toHaveLength(8);
    expect(printed.direction.threshold).toBeCloseTo(direction.threshold, 6);

    const err = sink();
    expect(await main(['fit-foreground', '--config', file, '--out', out], sink(), err)).toBe(2);
    expect(err.text()).toMatch(/needs --encoder/);
  }, 120_000);
});
