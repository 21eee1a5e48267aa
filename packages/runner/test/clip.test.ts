import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventBus, GenviewError, Rng, type Tokenizer, decodeSafetensors, requireVisionLanguageEncoder, tf } from '@genview/core';
import { createRegistry, createRunnerServices, loadRunConfig, runConfigSchema, trainFromConfig } from '@genview/runner';
import { describe, expect, it } from 'vitest';
import { CHANCE, COLOR_PROMPTS, cli, metricOf, shapesConfig } from './vision-language-run';

const ZERO_SHOT = 'zeroshot_top1';
const INIT_LOG_SCALE = Math.log(1 / 0.07);

/** Every model tensor of a run's last checkpoint, by name. */
function checkpointModel(outDir: string): Map<string, Float32Array | Int32Array> {
  const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(join(outDir, 'last.safetensors'))));
  const out = new Map<string, Float32Array | Int32Array>();
  for (const [name, stored] of Object.entries(tensors as Record<string, { data: Float32Array | Int32Array }>)) out.set(name, stored.data);
  return out;
}


describe('clip framework', () => {
  it('trained from `genview train` on captioned shapes, zero-shot beats chance and the same CLIP at random init; `genview eval` rebuilds it', async () => {
    const run = shapesConfig({
      framework: { name: 'clip' },
      steps: 50,
      evaluators: [{ name: 'zero-shot', templates: COLOR_PROMPTS }, { name: 'retrieval', ks: [1, 5] }, { name: 'knn', k: [20] }],
    });
    await cli(['train', '--config', run.file]);

    const trained = metricOf(run.outDir, 0, 'zero-shot', ZERO_SHOT) as number;
    const random = metricOf(run.outDir, 1, 'zero-shot', ZERO_SHOT) as number;
    expect(trained, `zero-shot ${trained} vs chance ${CHANCE}`).toBeGreaterThan(CHANCE + 0.25);
    expect(trained, `zero-shot ${trained} vs random-init CLIP ${random}`).toBeGreaterThan(random + 0.2);
    // The image-only baseline has no joint space: its zero-shot and retrieval rows are left out, its kNN kept.
    expect(metricOf(run.outDir, 2, 'zero-shot', ZERO_SHOT)).toBeUndefined();
    expect(metricOf(run.outDir, 2, 'knn', 'knn_top1@20')).toBeGreaterThan(0);
    const recall = metricOf(run.outDir, 0, 'retrieval', 't2i_R@5') as number;
    expect(recall, `text→image R@5 ${recall} vs random-init ${metricOf(run.outDir, 1, 'retrieval', 't2i_R@5')}`).toBeGreaterThan(
      metricOf(run.outDir, 1, 'retrieval', 't2i_R@5') as number,
    );
    expect(existsSync(join(run.outDir, 'tokenizer', 'vocab.json'))).toBe(true);

    // A fresh process: the network from config.json + checkpoint, the text from the saved tokenizer.
    const evaluated = await cli(['eval', '--config', run.file]);
    expect(evaluated).toMatch(/\[tokenizer\] captions tokenizer: loaded from/);
    const printed = /\[eval\] clip · zero-shot: zeroshot_top1=([\d.]+)%/.exec(evaluated);
    expect(printed, evaluated).not.toBeNull();
    expect(Number(printed?.[1])).toBeCloseTo(100 * trained, 1);
  }, 180_000);

  it('resumes exactly (logit scale and tokenizer restored) and leaks no tensors across steps', async () => {
    const steps = 24;
    const options = { framework: { name: 'clip' }, steps, checkpointEvery: steps / 2, evaluators: [], baselines: false, trainCount: 512 };
    const straight = shapesConfig(options);
    await cli(['train', '--config', straight.file]);

    const interrupted = shapesConfig(options);
    const events = new EventBus();
    const counts = new Map<number, number>();
    events.on('progress', ({ task, done }) => {
      if (task === 'train') counts.set(done, tf.memory().numTensors);
    });
    events.on('checkpoint', ({ step }) => {
      if (step === steps / 2) throw new Error('simulated crash after the mid-run checkpoint');
    });
    await expect(trainFromConfig(loadRunConfig({ path: interrupted.file }), { events })).rejects.toThrow('simulated crash');
    expect(counts.get(steps / 2), 'tensors after the last step before the crash').toBe(counts.get(3));

    const resumed = await cli(['train', '--config', interrupted.file, '--resume']);
    expect(resumed).toMatch(/\[tokenizer\] captions tokenizer: loaded from/);
    expect(resumed).toMatch(new RegExp(`resumed at step ${steps / 2}`));

    const expected = checkpointModel(straight.outDir);
    const actual = checkpointModel(interrupted.outDir);
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [name, values] of expected) expect(actual.get(name), name).toEqual(values);
    const logScale = expected.get('model/logit_scale/value')?.[0] as number;
    expect(Math.abs(logScale - INIT_LOG_SCALE), 'the logit scale was trained, so restoring it matters').toBeGreaterThan(1e-4);
    expect(readFileSync(join(interrupted.outDir, 'tokenizer', 'merges.txt'), 'utf8')).toBe(readFileSync(join(straight.outDir, 'tokenizer', 'merges.txt'), 'utf8'));

    // Another run's plugins reach this encoder as checkpoint:<dir>, text encoded with <dir>'s tokenizer.
    const services = createRunnerServices({ config: runConfigSchema.parse({ outDir: join(straight.outDir, 'elsewhere') }), imageShape: [16, 16, 3], registry: createRegistry(), events });
    const encoder = requireVisionLanguageEncoder(await services.featureExtractor(`checkpoint:${straight.outDir}`), 'test');
    const norms = tf.tidy(() => tf.norm(encoder.embedTexts(['a red circle', 'a blue star']), 'euclidean', 1).dataSync());
    expect(Array.from(norms, (n) => Math.round(n * 1e4) / 1e4)).toEqual([1, 1]);
    // The same joint space as a frozen vision-language model (what image-text quality weights score with).
    const frozen = await services.visionLanguageModel(`checkpoint:${straight.outDir}`);
    const [viaFrozen, viaEncoder] = [await frozen.embedTexts(['a red circle']), encoder.embedTexts(['a red circle'])];
    expect(Array.from(viaFrozen.dataSync())).toEqual(Array.from(viaEncoder.dataSync()));
    tf.dispose([viaFrozen, viaEncoder]);
    services.dispose();
  }, 180_000);

  it('says which dataset lacks captions, keeps the logit scale at most 100, and gives a VisionLanguageEncoder', async () => {
    const registry = createRegistry();
    const events = new EventBus();
    const tokenizer: Tokenizer = {
      vocabSize: 8,
      contextLength: 4,
      eosTokenId: 7,
      encodeBatch: (texts) => ({ ids: Int32Array.from({ length: texts.length * 4 }, (_, i) => (i % 4 === 3 ? 7 : i % 5)), shape: [texts.length, 4] }),
    };
    const framework = await registry.create(
      'framework',
      { name: 'clip', inputShape: [16, 16, 3], backbone: { name: 'small-cnn', widths: [4, 8] }, text: { name: 'text-transformer', width: 8, layers: 1, heads: 2 }, jointDim: 8 },
      { rng: new Rng(0), events, path: 'framework', services: { tokenizer: () => tokenizer } },
    );
    const images = tf.zeros([2, 16, 16, 3]) as tf.Tensor4D;
    const uncaptioned = { views: [images, images], indices: Int32Array.from([0, 1]) };
    let error: unknown;
    try {
      framework.loss(uncaptioned, 0);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(GenviewError);
    expect((error as GenviewError).message).toMatch(/captions/);
    expect((error as GenviewError).fix).toMatch(/captioned-shapes|captions: true/);

    const scale = framework.stateModules().find((m) => m.name === 'logit_scale')?.variables()[0]?.variable as tf.Variable;
    expect(scale.dataSync()[0]).toBeCloseTo(INIT_LOG_SCALE, 6);
    scale.assign(tf.scalar(9));
    framework.afterStep?.({ ...uncaptioned, captions: ['a', 'b'] }, 0, 1);
    expect(Math.exp(scale.dataSync()[0] as number)).toBeCloseTo(100, 3);

    const encoder = requireVisionLanguageEncoder(framework.encoder(), 'test');
    expect(encoder.jointDim).toBe(8);
    const texts = tf.tidy(() => tf.norm(encoder.embedTexts(['a', 'b', 'c']), 'euclidean', 1).dataSync());
    for (const norm of texts) expect(norm).toBeCloseTo(1, 5);
    images.dispose();
    framework.dispose();

    await expect(
      registry.create('framework', { name: 'clip', inputShape: [16, 16, 3] }, { rng: new Rng(0), events, path: 'framework' }),
    ).rejects.toThrow(/tokenizer/);
    const services = createRunnerServices({
      config: runConfigSchema.parse({ outDir: mkdtempSync(join(tmpdir(), 'genview-no-captions-')) }),
      imageShape: [28, 28, 1],
      registry,
      events,
      tokenizer: { reuse: false, captions: { dataset: 'fashion-mnist/train' } },
    });
    await expect(services.tokenizer('captions')).rejects.toThrow(/dataset fashion-mnist\/train has no captions.*captions: true/);
  }, 60_000);
});

describe('test-only segment sum', () => {
  it('scatters rows into their segments (the gradient of gather)', () => {
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
    const summed = tf.unsortedSegmentSum(x, tf.tensor1d([1, 0, 1], 'int32'), 3);
    expect(Array.from(summed.dataSync())).toEqual([3, 4, 6, 8, 0, 0]);
    x.dispose();
    summed.dispose();
  });
});

describe('vision-language example configs', () => {
  it('name plugins that exist, with options their schemas accept', () => {
    const registry = createRegistry();
    for (const name of ['clip-shapes', 'slip-shapes', 'clip-fashion-mnist']) {
      const config = loadRunConfig({ path: fileURLToPath(new URL(`../../../examples/configs/${name}.yaml`, import.meta.url)) });
      const check = (kind: 'dataset' | 'framework' | 'evaluator', ref: unknown, path: string) => {
        const { name: plugin, ...options } = (typeof ref === 'string' ? { name: ref } : ref) as { name: string };
        registry.validate(registry.resolve(kind, plugin, path), options, path);
      };
      check('dataset', config.data.train, `${name}: data.train`);
      check('dataset', config.data.test, `${name}: data.test`);
      check('framework', config.framework, `${name}: framework`);
      for (const ref of config.eval.evaluators) check('evaluator', ref, `${name}: eval.evaluators`);
      expect((config.framework as { name: string }).name).toMatch(/^(clip|slip)$/);
    }
  });
});
