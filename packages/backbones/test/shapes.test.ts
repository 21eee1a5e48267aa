import { EventBus, type Module, Registry, Rng, type Tensor4D, tf } from '@genview/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Vit, asFeatureExtractor, createMlpHead, createResNet, createSmallCnn, createVit, plugins } from '../src/index';
import { images } from './helpers';

const eval_ = { training: false };
const train = { training: true };
const made: Module[] = [];
afterAll(() => {
  for (const m of made) m.dispose();
});
function keep<M extends Module>(m: M): M {
  made.push(m);
  return m;
}

/** Runs apply and featureMap, returns their shapes, and checks no tensor is left behind. */
function shapesOf(net: { apply: Module['apply']; featureMap?: (x: Tensor4D, m: { training: boolean }) => Tensor4D }, x: Tensor4D, mode = eval_) {
  const before = tf.memory().numTensors;
  const pooled = net.apply(x, mode);
  const map = net.featureMap?.(x, mode);
  const result = { pooled: pooled.shape, map: map?.shape };
  expect(Array.from(pooled.dataSync()).every(Number.isFinite)).toBe(true);
  pooled.dispose();
  map?.dispose();
  expect(tf.memory().numTensors).toBe(before);
  return result;
}

describe('backbone output shapes', () => {
  // Made in beforeAll: the backend is selected by the setup file's beforeAll, after collection.
  let x28: Tensor4D;
  let x32: Tensor4D;
  beforeAll(() => {
    x28 = images(2, 28, 1);
    x32 = images(2, 32, 3);
  });
  afterAll(() => {
    x28.dispose();
    x32.dispose();
  });

  it('small-cnn: stride-2 blocks give 4x4 maps and 256 features', () => {
    const a = keep(createSmallCnn({ inChannels: 1, rng: new Rng(0) }));
    const b = keep(createSmallCnn({ inChannels: 3, rng: new Rng(0) }));
    expect(a.featureDim).toBe(256);
    expect(shapesOf(a, x28, train)).toEqual({ pooled: [2, 256], map: [2, 4, 4, 256] });
    expect(shapesOf(b, x32)).toEqual({ pooled: [2, 256], map: [2, 4, 4, 256] });
    const narrow = keep(createSmallCnn({ inChannels: 1, widths: [8, 16], rng: new Rng(0) }));
    expect(shapesOf(narrow, x28)).toEqual({ pooled: [2, 16], map: [2, 14, 14, 16] });
  });

  // The big networks are built with initialize: false (zero weights): shapes do not depend on values,
  // and drawing their 21-24M normals in JS would cost most of the suite's time budget.
  it('resnet-18 (random init) and resnet-34 with both stems', () => {
    const cifar1 = keep(createResNet({ depth: 18, inChannels: 1, rng: new Rng(0) }));
    expect(cifar1.featureDim).toBe(512);
    expect(shapesOf(cifar1, x28, train)).toEqual({ pooled: [2, 512], map: [2, 4, 4, 512] });
    cifar1.dispose();
    const cifar3 = keep(createResNet({ depth: 18, rng: new Rng(0) }));
    expect(shapesOf(cifar3, x32, train)).toEqual({ pooled: [2, 512], map: [2, 4, 4, 512] });
    cifar3.dispose();
    const r34a = keep(createResNet({ depth: 34, inChannels: 1, rng: new Rng(0), initialize: false }));
    expect(r34a.featureDim).toBe(512);
    expect(shapesOf(r34a, x28)).toEqual({ pooled: [2, 512], map: [2, 4, 4, 512] });
    r34a.dispose();
    const r34b = keep(createResNet({ depth: 34, rng: new Rng(0), initialize: false }));
    expect(shapesOf(r34b, x32)).toEqual({ pooled: [2, 512], map: [2, 4, 4, 512] });
    r34b.dispose();
    // imagenet stem: /2 conv, /2 pool, then /2 per stage: 28 → 14 → 7 → 4 → 2 → 1, 32 → 16 → 8 → 4 → 2 → 1.
    const inet1 = keep(createResNet({ depth: 18, stem: 'imagenet', inChannels: 1, rng: new Rng(0), widthMultiplier: 0.25 }));
    expect(inet1.featureDim).toBe(128);
    expect(shapesOf(inet1, x28, train)).toEqual({ pooled: [2, 128], map: [2, 1, 1, 128] });
    const inet3 = keep(createResNet({ depth: 18, stem: 'imagenet', rng: new Rng(0), widthMultiplier: 0.25 }));
    expect(shapesOf(inet3, x32)).toEqual({ pooled: [2, 128], map: [2, 1, 1, 128] });
  });

  it('resnet-50: bottleneck features of 2048 (one tiny forward per input size)', () => {
    const r1 = keep(createResNet({ depth: 50, inChannels: 1, rng: new Rng(0), initialize: false }));
    expect(r1.featureDim).toBe(2048);
    const one28 = tf.slice(x28, 0, 1);
    expect(shapesOf(r1, one28)).toEqual({ pooled: [1, 2048], map: [1, 4, 4, 2048] });
    one28.dispose();
    r1.dispose();
    const r3 = keep(createResNet({ depth: 50, stem: 'imagenet', rng: new Rng(0), initialize: false }));
    const one32 = tf.slice(x32, 0, 1);
    expect(shapesOf(r3, one32)).toEqual({ pooled: [1, 2048], map: [1, 1, 1, 2048] });
    one32.dispose();
    r3.dispose();
  });

  it('vit-tiny and vit-small: class-token features and patch-token maps', () => {
    const t28 = keep(createVit({ variant: 'tiny', imageSize: 28, patchSize: 4, inChannels: 1, rng: new Rng(0) }));
    expect(t28.featureDim).toBe(192);
    expect(shapesOf(t28, x28)).toEqual({ pooled: [2, 192], map: [2, 7, 7, 192] });
    const tokens = t28.tokens(x28, eval_);
    expect(tokens.shape).toEqual([2, 50, 192]);
    tokens.dispose();
    t28.dispose();
    const t32 = keep(createVit({ variant: 'tiny', imageSize: 32, patchSize: 4, rng: new Rng(0) }));
    expect(shapesOf(t32, x32)).toEqual({ pooled: [2, 192], map: [2, 8, 8, 192] });
    t32.dispose();
    const s28 = keep(createVit({ variant: 'small', imageSize: 28, patchSize: 7, inChannels: 1, rng: new Rng(0), initialize: false }));
    expect(s28.featureDim).toBe(384);
    const one28 = tf.slice(x28, 0, 1);
    expect(shapesOf(s28, one28)).toEqual({ pooled: [1, 384], map: [1, 4, 4, 384] });
    one28.dispose();
    s28.dispose();
    const s32 = keep(createVit({ variant: 'small', imageSize: 32, patchSize: 8, rng: new Rng(0), initialize: false }));
    const one32 = tf.slice(x32, 0, 1);
    expect(shapesOf(s32, one32)).toEqual({ pooled: [1, 384], map: [1, 4, 4, 384] });
    one32.dispose();
    s32.dispose();
  });

  it('refuses inputs of the wrong channel count or size with BAD_SHAPE', () => {
    const cnn = keep(createSmallCnn({ inChannels: 3, rng: new Rng(0) }));
    expect(() => cnn.apply(x28, eval_)).toThrow(/\[BAD_SHAPE\].*images dim 3 must be 3/);
    const vit: Vit = keep(createVit({ variant: 'tiny', imageSize: 32, patchSize: 4, depth: 1, rng: new Rng(0) }));
    const x28c3 = images(1, 28, 3);
    expect(() => vit.apply(x28c3, eval_)).toThrow(/BAD_SHAPE/);
    x28c3.dispose();
    expect(() => createVit({ variant: 'tiny', imageSize: 28, patchSize: 8, rng: new Rng(0) })).toThrow(/patchSize 8 must divide imageSize 28/);
  });
});

describe('heads', () => {
  it('mlp projector (2 and 3 layers) and predictor map [N, inDim] to [N, outDim]', () => {
    const feats = tf.tensor2d(new Rng(3).normalArray(4 * 64), [4, 64]);
    const p2 = keep(createMlpHead({ inDim: 64, hiddenDim: 32, outDim: 16, layers: 2, batchNorm: true, lastBatchNorm: false, rng: new Rng(0) }));
    const p3 = keep(createMlpHead({ inDim: 64, hiddenDim: 32, outDim: 16, layers: 3, batchNorm: true, lastBatchNorm: true, rng: new Rng(0) }));
    for (const head of [p2, p3]) {
      const before = tf.memory().numTensors;
      const y = head.apply(feats, { training: true });
      expect(y.shape).toEqual([4, 16]);
      y.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    expect(p2.variables().map((v) => v.name)).toEqual([
      'layers.0.fc.weight',
      'layers.0.bn.weight',
      'layers.0.bn.bias',
      'layers.0.bn.running_mean',
      'layers.0.bn.running_var',
      'layers.1.fc.weight',
      'layers.1.fc.bias',
    ]);
    // SimSiam's last BN has no scale/shift: only running statistics.
    expect(p3.variables().filter((v) => v.name.startsWith('layers.2.bn')).map((v) => v.name)).toEqual([
      'layers.2.bn.running_mean',
      'layers.2.bn.running_var',
    ]);
    expect(() => p2.apply(tf.zeros([4, 63]), { training: false })).toThrow(/BAD_SHAPE/);
    feats.dispose();
  });
});

describe('plugins', () => {
  const registry = new Registry().register(plugins);
  const ctx = { rng: new Rng(0), events: new EventBus() };

  it('registers every backbone and head by name, with schema defaults', async () => {
    expect(registry.list('backbone').map((p) => p.name)).toEqual(['resnet-18', 'resnet-34', 'resnet-50', 'small-cnn', 'text-transformer', 'vit-small', 'vit-tiny']);
    expect(registry.list('head').map((p) => p.name)).toEqual(['mlp-predictor', 'mlp-projector']);
    const cnn = keep(await registry.create('backbone', { name: 'small-cnn', inChannels: 1 }, ctx));
    expect(cnn.featureDim).toBe(256);
    const vit = keep(await registry.create('backbone', { name: 'vit-tiny', imageSize: 32, patchSize: 4, depth: 2 }, ctx));
    expect(vit.featureDim).toBe(192);
    expect(vit.variables().filter((v) => v.name.startsWith('blocks.')).length).toBe(2 * 12);
    const proj = keep(await registry.create('head', { name: 'mlp-projector', inDim: 256 }, ctx));
    expect([proj.inDim, proj.outDim]).toEqual([256, 128]);
    expect(proj.variables().find((v) => v.name === 'layers.0.fc.weight')?.variable.shape).toEqual([256, 2048]);
    const pred = keep(await registry.create('head', { name: 'mlp-predictor', inDim: 128 }, ctx));
    expect([pred.inDim, pred.outDim]).toEqual([128, 128]);
    await expect(registry.create('backbone', { name: 'resnet-18', stem: 'tiny' }, ctx)).rejects.toThrow(/INVALID_CONFIG/);
    await expect(registry.create('backbone', { name: 'vit-tiny', imageSize: 30 }, ctx)).rejects.toThrow(/patchSize must divide imageSize/);
  });

  it('asFeatureExtractor embeds in eval mode and offers patch tokens', () => {
    const cnn = keep(createSmallCnn({ inChannels: 1, widths: [4, 8], rng: new Rng(0) }));
    const fx = asFeatureExtractor(cnn);
    const x = images(3, 28, 1);
    const before = tf.memory().numTensors;
    const stats = cnn.variables().filter((v) => !v.trainable).map((v) => Array.from(v.variable.dataSync()));
    const e = fx.embed(x);
    const p = fx.patchTokens?.(x);
    expect(e.shape).toEqual([3, 8]);
    expect(p?.shape).toEqual([3, 14 * 14, 8]);
    // Eval mode: running statistics untouched, and the embedding is the mean of the patch tokens.
    expect(cnn.variables().filter((v) => !v.trainable).map((v) => Array.from(v.variable.dataSync()))).toEqual(stats);
    const meanTokens = tf.mean(p as tf.Tensor, 1);
    expect(Array.from(meanTokens.dataSync()).map((v, i) => Math.abs(v - e.dataSync()[i]) < 1e-5)).not.toContain(false);
    tf.dispose([e, p as tf.Tensor, meanTokens, x]);
    expect(tf.memory().numTensors).toBe(before - 1);
    const head = keep(createMlpHead({ inDim: 8, hiddenDim: 8, outDim: 8, layers: 2, batchNorm: false, lastBatchNorm: false, rng: new Rng(0) }));
    expect(asFeatureExtractor({ ...head, featureDim: 8 }).patchTokens).toBeUndefined();
  });
});
