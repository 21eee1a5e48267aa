import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus, type Module, Rng, type Tensor2D, type Tensor4D, decodeSafetensors, encodeSafetensors, forwardViews, l2Normalize, tf } from '@genview/core';
import { BatchOrder, type MclFramework, Trainer, createRegistry, runMultistage } from '@genview/runner';
import { coloredDigits, inMemoryDataset } from '@genview/datasets';
import { ViewPipeline } from '@genview/views';
import { isMclFramework } from '../src/frameworks/mcl/framework';
import { KeyQueue } from '../src/frameworks/queue';
import { describe, expect, it } from 'vitest';

/**
 * MCL's feature-aware negatives with MoCo: the queue remembers each key's pseudo label, and a query's
 * queue negatives are the keys of its own label (ViewBatch.negativeGroups → LossInputs.queueNegativeMask).
 */

const SIZE = 32;
const BATCH = 8;
const QUEUE = 12;
const SEED = 5;
const registry = createRegistry();
const events = new EventBus();
const MOCO = {
  name: 'moco-v2',
  backbone: { name: 'small-cnn', widths: [4, 8] },
  projector: { name: 'mlp-projector', hiddenDim: 8, outDim: 4, batchNorm: false },
  queueSize: QUEUE,
};
const LABELS = Int32Array.from({ length: SIZE }, (_, i) => (i * 7) % 3);

/** queueNegativeMask written out pair by pair: 1 where slot j holds a key of anchor i's group. */
function handMask(anchorGroups: ArrayLike<number>, slotGroups: ArrayLike<number>): number[][] {
  return Array.from(anchorGroups, (g) => Array.from(slotGroups, (s) => (s === g ? 1 : 0)));
}

function queueOf(framework: MclFramework): KeyQueue {
  return framework.inner.stateModules().find((m) => m.name === 'queue') as KeyQueue;
}

async function makeRun(outDir?: string, negatives: 'mask' | 'sampler' = 'mask', totalSteps = 6) {
  const created = await registry.create('framework', { name: 'mcl', inputShape: [8, 8, 1], inner: MOCO, negatives }, { rng: new Rng(11), events, path: 'framework' });
  if (!isMclFramework(created)) throw new Error('not an mcl framework');
  created.setPseudoLabels(LABELS);
  const views = await Promise.all(
    [0, 1].map(async (v) => new ViewPipeline([await registry.create('augment', { name: 'random-resized-crop', size: 8, scale: [0.5, 1] }, { rng: new Rng(v), events, path: `v${v}` })])),
  );
  const trainer = new Trainer({
    framework: created,
    data: inMemoryDataset(new Rng(3).uniformArray(SIZE * 8 * 8), [SIZE, 8, 8, 1]),
    views,
    optimizer: { name: 'sgd', momentum: 0.9 },
    learningRate: () => 0.05,
    totalSteps,
    batchSize: BATCH,
    seed: SEED,
    outDir,
    logEvery: 100,
    events,
  });
  return { trainer, framework: created };
}

/** MoCo v2's symmetric loss recomputed from its modules, with an explicitly given queue mask. */
async function explicitLoss(framework: MclFramework, views: Tensor4D[], mask: number[][]): Promise<number> {
  const modules = new Map<string, Module>(framework.inner.stateModules().map((m) => [m.name, m]));
  const loss = await registry.create('loss', { name: 'moco-queue', temperature: 0.2, symmetric: true }, { rng: new Rng(0), events, path: 'loss' });
  const value = tf.tidy(() => {
    const queries = forwardViews(views, [modules.get('backbone')!, modules.get('projector')!], true).map((q) => l2Normalize(q, 1));
    const keys = forwardViews(views, [modules.get('key_backbone')!, modules.get('key_projector')!], true).map((k) => l2Normalize(k, 1));
    return loss.compute({ views: queries, targets: keys, queue: queueOf(framework).negatives, queueNegativeMask: tf.tensor2d(mask) as Tensor2D });
  });
  const out = value.dataSync()[0];
  value.dispose();
  return out;
}

describe('KeyQueue negative groups', () => {
  it('stores groups with keys and builds the same mask as a pair-by-pair loop; unknown slots never match', () => {
    const queue = new KeyQueue(6, 3, new Rng(1));
    const keys = (n: number) => tf.tidy(() => l2Normalize(tf.randomNormal([n, 3], 0, 1, 'float32', 2), 1) as Tensor2D);
    expect(Array.from(queue.slotGroups())).toEqual([-1, -1, -1, -1, -1, -1]);
    const [a, b, c] = [keys(2), keys(2), keys(3)];
    queue.enqueue(a, Int32Array.from([4, 7]));
    queue.enqueue(b); // no groups given: these slots become unknown
    queue.enqueue(c, Int32Array.from([7, 4, 7])); // wraps around over slot 0
    expect(Array.from(queue.slotGroups())).toEqual([7, 7, -1, -1, 7, 4]);
    const anchors = Int32Array.from([7, 4, 0, 7]);
    const mask = queue.groupMask(anchors);
    expect(mask.arraySync()).toEqual(handMask(anchors, queue.slotGroups()));
    expect(() => queue.groupMask(Int32Array.from([-1]))).toThrow(/non-negative/);
    expect(() => queue.enqueue(a, Int32Array.from([1]))).toThrow(/groups for 2 keys/);
    for (const t of [a, b, c, mask]) t.dispose();
    queue.dispose();
  });
});

describe('MoCo v2 inside mcl', () => {
  for (const negatives of ['mask', 'sampler'] as const) {
    it(`(${negatives}) masks the queue by pseudo label: loss equals moco-queue with the hand-built mask`, async () => {
      const { trainer, framework } = await makeRun(undefined, negatives);
      const order = new BatchOrder(SEED, SIZE, BATCH);
      const rng = new Rng(2);
      const views = [0, 1].map(() => tf.tensor4d(rng.uniformArray(BATCH * 64), [BATCH, 8, 8, 1]));
      const indices = Int32Array.from([3, 9, 14, 20, 21, 27, 30, 31]);
      const groups = Array.from(indices, (i) => LABELS[i]);
      const compare = async () => {
        const wrapped = framework.loss({ views, indices }, 0);
        const got = wrapped.dataSync()[0];
        wrapped.dispose();
        const slots = queueOf(framework).slotGroups();
        expect(got).toBeCloseTo(await explicitLoss(framework, views, handMask(groups, slots)), 5);
        // Without groups the whole queue is negatives: a different loss.
        const plain = tf.tidy(() => framework.inner.loss({ views, indices }, 0));
        expect(plain.dataSync()[0]).not.toBeCloseTo(got, 3);
        plain.dispose();
      };
      await trainer.step(0);
      // One batch in: its keys carry their labels, the other slots (random initial keys) are unknown.
      const first = Array.from(order.indices(0), (i) => LABELS[i]);
      expect(Array.from(queueOf(framework).slotGroups())).toEqual([...first, -1, -1, -1, -1]);
      await compare();
      // compare() left MoCo's pending keys in place; the next step replaces them, so count from there.
      await trainer.step(1);
      const before = tf.memory().numTensors;
      for (let step = 2; step < 4; step++) await trainer.step(step);
      expect(tf.memory().numTensors).toBe(before);
      expect(queueOf(framework).slotGroups().every((g) => g >= 0)).toBe(true);
      await compare();
      for (const v of views) v.dispose();
      trainer.dispose();
      framework.dispose();
    });
  }

  it('resumes exactly with the queue groups in the checkpoint; an old checkpoint without them loads as unknown', async () => {
    const steps = 6;
    const straight = await makeRun();
    let afterStep2 = -1;
    for (let step = 0; step < steps; step++) {
      await straight.trainer.step(step);
      if (step === 1) afterStep2 = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(afterStep2);
    const expected = new Map(straight.trainer.stateVariables().map((v) => [v.name, Array.from(v.variable.dataSync())]));
    expect(expected.has('queue/groups')).toBe(true);
    straight.trainer.dispose();
    straight.framework.dispose();

    const dir = mkdtempSync(join(tmpdir(), 'genview-mcl-moco-resume-'));
    const first = await makeRun(dir);
    for (let step = 0; step < steps / 2; step++) await first.trainer.step(step);
    await first.trainer.checkpoint(steps / 2);
    first.trainer.dispose();
    first.framework.dispose();

    const second = await makeRun(dir);
    expect(second.trainer.resume().step).toBe(steps / 2);
    await second.trainer.run();
    for (const v of second.trainer.stateVariables()) expect(Array.from(v.variable.dataSync()), v.name).toEqual(expected.get(v.name));
    second.trainer.dispose();
    second.framework.dispose();

    // A checkpoint from before the groups existed: the resumed run's final checkpoint without queue/groups.
    const oldDir = mkdtempSync(join(tmpdir(), 'genview-mcl-moco-old-'));
    const file = decodeSafetensors(new Uint8Array(readFileSync(join(dir, 'last.safetensors'))));
    delete file.tensors['model/queue/groups'];
    writeFileSync(join(oldDir, 'last.safetensors'), encodeSafetensors(file.tensors, file.metadata));
    const old = await makeRun(oldDir);
    expect(old.trainer.resume().step).toBe(steps);
    expect(Array.from(queueOf(old.framework).slotGroups())).toEqual(new Array(QUEUE).fill(KeyQueue.UNKNOWN_GROUP));
    expect(Array.from(queueOf(old.framework).negatives.dataSync())).toEqual(expected.get('queue/keys'));
    // Every queued key is of unknown group, so no anchor has a queue negative: the loss is exactly 0.
    const rng = new Rng(4);
    const views = [0, 1].map(() => tf.tensor4d(rng.uniformArray(BATCH * 64), [BATCH, 8, 8, 1]));
    const loss = old.framework.loss({ views, indices: Int32Array.from({ length: BATCH }, (_, i) => i) }, 0);
    expect(loss.dataSync()[0]).toBe(0);
    for (const t of [...views, loss]) t.dispose();
    old.trainer.dispose();
    old.framework.dispose();
  });
});

describe('runMultistage with MoCo v2', () => {
  it('trains 2 stages with the queue restricted to pseudo labels', async () => {
    const data = coloredDigits({ count: 48, size: 8, seed: 1, colors: 3 });
    const views = await Promise.all(
      [0, 1].map(async (v) => new ViewPipeline([await registry.create('augment', { name: 'random-resized-crop', size: 8, scale: [0.5, 1] }, { rng: new Rng(v), events, path: `v${v}` })])),
    );
    const before = tf.memory().numTensors;
    const result = await runMultistage({
      data,
      framework: { ...MOCO, queueSize: 16 },
      views,
      stages: 2,
      stepsPerStage: 4,
      batchSize: BATCH,
      optimizer: { name: 'adam' },
      learningRate: () => 1e-3,
      seed: 0,
      clustering: { k: 3, algorithm: 'lloyd' },
      registry,
      events,
    });
    const [stage0, stage1] = result.stages;
    expect(stage1.framework.negatives).toBe('mask');
    expect(stage1.trainedWith).toBe(stage0.pseudoLabels);
    for (const s of result.stages) expect(Number.isFinite(s.summary.finalLoss)).toBe(true);
    // Stage 0 trains without labels (its keys stay unknown); stage 1's fresh queue holds 32 labelled keys in 16 slots.
    expect(queueOf(stage0.framework).slotGroups().every((g) => g === KeyQueue.UNKNOWN_GROUP)).toBe(true);
    const labels = new Set(stage1.trainedWith);
    expect(queueOf(stage1.framework).slotGroups().every((g) => labels.has(g))).toBe(true);
    result.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
