import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Dataset,
  EventBus,
  type Framework,
  type GeneratedView,
  type GenerationRequest,
  type Generator,
  type Module,
  Rng,
  type Scalar,
  type Tensor3D,
  type ViewBatch,
  tf,
} from '@genview/core';
import { Trainer, createRegistry } from '@genview/runner';
import { inMemoryDataset } from '@genview/datasets';
import { ViewPipeline } from '@genview/views';
import { describe, expect, it } from 'vitest';

const N = 32;
const BATCH = 8;

/** 32 random 8x8 grey images. */
function tinyData(): Dataset {
  return inMemoryDataset(new Rng(3).uniformArray(N * 8 * 8), [N, 8, 8, 1]);
}

/** A generator whose "generated view" is the inverted image, so a test can tell the sources apart. */
class InvertingGenerator implements Generator {
  readonly name = 'invert';
  readonly calls: { index: number; seed: number }[][] = [];
  constructor(private readonly shape?: [number, number, number]) {}
  async generate(requests: GenerationRequest[]): Promise<GeneratedView[]> {
    this.calls.push(requests.map((r) => ({ index: r.index as number, seed: r.seed })));
    return requests.map((r) => {
      const { image: _image, index: _index, ...params } = r;
      const image = this.shape ? tf.zeros(this.shape) : tf.sub(1, r.image as Tensor3D);
      return { image: image as Tensor3D, params, index: r.index };
    });
  }
}

/** A framework with one scalar weight that keeps a copy of the views it was given at each step. */
function recordingFramework(): Framework & { seen: { indices: Int32Array; views: Float32Array[] }[] } {
  const w = tf.variable(tf.scalar(1));
  const module: Module = {
    name: 'probe',
    variables: () => [{ name: 'w', variable: w, trainable: true, decay: false }],
    apply: (x) => x,
    dispose: () => w.dispose(),
  };
  const seen: { indices: Int32Array; views: Float32Array[] }[] = [];
  return {
    name: 'probe',
    seen,
    trainableModules: () => [module],
    stateModules: () => [module],
    loss: (batch: ViewBatch) => tf.mul(w, tf.add(tf.mean(batch.views[0]), tf.mean(batch.views[1]))) as Scalar,
    afterStep: (batch: ViewBatch) => {
      seen.push({ indices: Int32Array.from(batch.indices), views: batch.views.map((v) => Float32Array.from(v.dataSync())) });
    },
    encoder: () => ({ featureDim: 1, embed: (x) => tf.mean(x, [1, 2]) as tf.Tensor2D }),
    dispose: () => module.dispose(),
  };
}

function identityTrainer(framework: Framework, data: Dataset, generated?: { generator: Generator; probability: number; views?: number[] }, seed = 5) {
  return new Trainer({
    framework,
    data,
    views: [new ViewPipeline([]), new ViewPipeline([])],
    optimizer: { name: 'sgd', momentum: 0 },
    learningRate: () => 0,
    totalSteps: 100,
    batchSize: BATCH,
    seed,
    generated,
  });
}

async function pixelsOf(data: Dataset, index: number): Promise<Float32Array> {
  const batch = await data.read([index]);
  const out = Float32Array.from(batch.images.dataSync());
  batch.images.dispose();
  return out;
}

const ROW = 8 * 8;

describe('generated views in the Trainer', () => {
  it('with probability 1 exactly one view of every pair starts from the generated image, the one the plan names', async () => {
    const data = tinyData();
    const framework = recordingFramework();
    const generator = new InvertingGenerator();
    const trainer = identityTrainer(framework, data, { generator, probability: 1 });
    const chosen = new Set<number>();
    for (let step = 0; step < 3; step++) {
      await trainer.step(step);
      const { indices, views } = framework.seen[step];
      const plan = trainer.generatedPlan(step, indices);
      // One batched call per step, for every row, with the plan's seeds.
      expect(generator.calls[step]).toEqual(Array.from(indices, (index, i) => ({ index, seed: plan.seeds[i] })));
      for (let i = 0; i < indices.length; i++) {
        const x = await pixelsOf(data, indices[i]);
        const g = plan.view[i];
        expect(g === 0 || g === 1).toBe(true);
        chosen.add(g);
        for (let v = 0; v < 2; v++) {
          const row = views[v].subarray(i * ROW, (i + 1) * ROW);
          const expected = v === g ? x.map((p) => 1 - p) : x;
          for (let p = 0; p < ROW; p++) expect(row[p]).toBeCloseTo(expected[p], 6);
        }
      }
    }
    // The generated side is drawn per pair, not fixed to one view.
    expect(chosen).toEqual(new Set([0, 1]));
    trainer.dispose();
    framework.dispose();
  });

  it('with probability 0 (or no generator) the views are the batch itself and the generator is never called', async () => {
    const data = tinyData();
    const off = recordingFramework();
    const generator = new InvertingGenerator();
    const withZero = identityTrainer(off, data, { generator, probability: 0 });
    const none = recordingFramework();
    const without = identityTrainer(none, data);
    for (let step = 0; step < 2; step++) {
      await withZero.step(step);
      await without.step(step);
      const { indices, views } = off.seen[step];
      for (let i = 0; i < indices.length; i++) {
        const x = await pixelsOf(data, indices[i]);
        expect(views[0].subarray(i * ROW, (i + 1) * ROW)).toEqual(x);
        expect(views[1].subarray(i * ROW, (i + 1) * ROW)).toEqual(x);
      }
      expect(off.seen[step]).toEqual(none.seen[step]);
    }
    expect(generator.calls).toEqual([]);
    for (const t of [withZero, without]) t.dispose();
    off.dispose();
    none.dispose();
  });

  it('the choice and the request seeds are a function of (seed, step, index); the probability only switches pairs on', () => {
    const data = tinyData();
    const make = (probability: number, seed = 5) => identityTrainer(recordingFramework(), data, { generator: new InvertingGenerator(), probability }, seed);
    const indices = Int32Array.from({ length: BATCH }, (_, i) => i * 3);
    const a = make(0.5).generatedPlan(7, indices);
    expect(make(0.5).generatedPlan(7, indices)).toEqual(a);
    expect(make(0.5).generatedPlan(8, indices)).not.toEqual(a);
    expect(make(0.5, 6).generatedPlan(7, indices)).not.toEqual(a);
    const all = make(1).generatedPlan(7, indices);
    expect(make(1).generatedPlan(7, indices).seeds).toEqual(a.seeds);
    for (let i = 0; i < BATCH; i++) if (a.view[i] >= 0) expect(a.view[i]).toBe(all.view[i]);
    expect(Array.from(make(0).generatedPlan(7, indices).view)).toEqual(new Array(BATCH).fill(-1));
    // Over many rows the share of generated pairs follows the probability.
    const many = Int32Array.from({ length: 2000 }, (_, i) => i);
    const used = make(0.3).generatedPlan(0, many).view.filter((v) => v >= 0).length / many.length;
    expect(used).toBeGreaterThan(0.26);
    expect(used).toBeLessThan(0.34);
  });

  it('views.generated.views pins the generated image to the views a framework reads (clip: view 0)', async () => {
    const data = tinyData();
    const indices = Int32Array.from({ length: BATCH }, (_, i) => i);
    const pinned = identityTrainer(recordingFramework(), data, { generator: new InvertingGenerator(), probability: 1, views: [0] });
    for (let step = 0; step < 5; step++) expect(Array.from(pinned.generatedPlan(step, indices).view)).toEqual(new Array(BATCH).fill(0));
    // The request seeds do not depend on which views may be replaced.
    const free = identityTrainer(recordingFramework(), data, { generator: new InvertingGenerator(), probability: 1 });
    expect(pinned.generatedPlan(3, indices).seeds).toEqual(free.generatedPlan(3, indices).seeds);
    expect(() => identityTrainer(recordingFramework(), data, { generator: new InvertingGenerator(), probability: 1, views: [2] })).toThrow(/views\.generated\.views/);
    expect(() => identityTrainer(recordingFramework(), data, { generator: new InvertingGenerator(), probability: 1, views: [] })).toThrow(/view indices/);
    for (const t of [pinned, free]) t.dispose();
  });

  it('leaks no tensors across steps, also when the generator returns the wrong shape (a clear error)', async () => {
    const data = tinyData();
    const framework = recordingFramework();
    const trainer = identityTrainer(framework, data, { generator: new InvertingGenerator(), probability: 0.5 });
    await trainer.step(0);
    const before = tf.memory().numTensors;
    for (let step = 1; step < 6; step++) await trainer.step(step);
    expect(tf.memory().numTensors).toBe(before);
    trainer.dispose();
    framework.dispose();

    const bad = recordingFramework();
    const wrong = identityTrainer(bad, data, { generator: new InvertingGenerator([4, 4, 1]), probability: 1 });
    const start = tf.memory().numTensors;
    await expect(wrong.step(0)).rejects.toThrow(/\[BAD_SHAPE\].*\[4, 4, 1\].*\[8, 8, 1\]/);
    expect(tf.memory().numTensors).toBe(start);
    wrong.dispose();
    bad.dispose();
    expect(() => identityTrainer(recordingFramework(), data, { generator: new InvertingGenerator(), probability: 1.5 })).toThrow(/INVALID_CONFIG/);
  });

  it('resumes exactly with generated views: 8 steps equal 4 + resume 4', async () => {
    const registry = createRegistry();
    const make = async (outDir: string) => {
      const events = new EventBus();
      const context = { rng: new Rng(11), events };
      const framework = await registry.create(
        'framework',
        {
          name: 'simclr',
          inputShape: [8, 8, 1],
          backbone: { name: 'small-cnn', widths: [4, 8] },
          projector: { name: 'mlp-projector', hiddenDim: 16, outDim: 8 },
        },
        { ...context, path: 'framework' },
      );
      const views = await Promise.all(
        [0, 1].map(
          async (v) =>
            new ViewPipeline([
              await registry.create('augment', { name: 'random-resized-crop', size: 8, scale: [0.5, 1] }, { ...context, path: `v${v}.crop` }),
              await registry.create('augment', { name: 'horizontal-flip' }, { ...context, path: `v${v}.flip` }),
            ]),
        ),
      );
      const trainer = new Trainer({
        framework,
        data: tinyData(),
        views,
        optimizer: { name: 'sgd', momentum: 0.9, weightDecay: 1e-4 },
        learningRate: (step) => 0.05 * (1 - step / 8),
        totalSteps: 8,
        batchSize: BATCH,
        seed: 5,
        outDir,
        checkpointEvery: 4,
        logEvery: 4,
        events,
        generated: { generator: new InvertingGenerator(), probability: 0.5 },
      });
      return { trainer, framework };
    };
    const weights = async (trainer: Trainer) => {
      const out = new Map<string, Float32Array>();
      for (const v of trainer.stateVariables()) out.set(v.name, Float32Array.from(await v.variable.data()));
      return out;
    };

    const straight = await make(mkdtempSync(join(tmpdir(), 'genview-gen-straight-')));
    await straight.trainer.run();
    const expected = await weights(straight.trainer);
    straight.trainer.dispose();
    straight.framework.dispose();

    const dir = mkdtempSync(join(tmpdir(), 'genview-gen-resume-'));
    const first = await make(dir);
    for (let step = 0; step < 4; step++) await first.trainer.step(step);
    await first.trainer.checkpoint(4);
    first.trainer.dispose();
    first.framework.dispose();
    const second = await make(dir);
    expect(second.trainer.resume().step).toBe(4);
    await second.trainer.run();
    const resumed = await weights(second.trainer);
    for (const [name, values] of expected) expect(resumed.get(name), name).toEqual(values);
    second.trainer.dispose();
    second.framework.dispose();
  });
});
