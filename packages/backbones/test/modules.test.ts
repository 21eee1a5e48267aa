import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenviewError, type Module, Rng, type Tensor4D, decodeSafetensors, readFileIfExists, tf } from '@genview/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMlpHead, createResNet, createSmallCnn, createVit, getWeights, loadWeights, nn, saveWeights, setWeights } from '../src/index';
import { images, maxAbsDiff, paramCount } from './helpers';

const eval_ = { training: false };
const train = { training: true };

/** Trainable parameters of a torchvision ResNet without its classifier, counted from the architecture. */
function resnetCount(depth: 18 | 34 | 50, stem: 'cifar' | 'imagenet', inC: number): number {
  const conv = (k: number, i: number, o: number) => k * k * i * o;
  const bn = (c: number) => 2 * c;
  const stages = { 18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3] }[depth];
  let total = conv(stem === 'imagenet' ? 7 : 3, inC, 64) + bn(64);
  let channels = 64;
  stages.forEach((blocks, s) => {
    const p = 64 * 2 ** s;
    for (let b = 0; b < blocks; b++) {
      const stride = s > 0 && b === 0 ? 2 : 1;
      const out = depth === 50 ? 4 * p : p;
      total +=
        depth === 50
          ? conv(1, channels, p) + bn(p) + conv(3, p, p) + bn(p) + conv(1, p, out) + bn(out)
          : conv(3, channels, p) + bn(p) + conv(3, p, p) + bn(p);
      if (stride !== 1 || channels !== out) total += conv(1, channels, out) + bn(out);
      channels = out;
    }
  });
  return total;
}

/** Trainable parameters of a ViT without its classifier. */
function vitCount(dim: number, depth: number, imageSize: number, patch: number, inC: number): number {
  const tokens = (imageSize / patch) ** 2 + 1;
  const block = 2 * 2 * dim + (dim * 3 * dim + 3 * dim) + (dim * dim + dim) + (dim * 4 * dim + 4 * dim) + (4 * dim * dim + dim);
  return patch * patch * inC * dim + dim + dim + tokens * dim + depth * block + 2 * dim;
}

describe('parameter counts', () => {
  it('ResNets match the formula and torchvision (fc removed)', () => {
    // torchvision totals minus fc: resnet18 11,689,512 − 513,000; resnet34 21,797,672 − 513,000; resnet50 25,557,032 − 2,049,000.
    const cases = [
      [18, 'imagenet', 11_176_512],
      [18, 'cifar', 11_168_832],
      [34, 'imagenet', 21_284_672],
      [50, 'imagenet', 23_508_032],
    ] as const;
    for (const [depth, stem, known] of cases) {
      expect(resnetCount(depth, stem, 3)).toBe(known);
      const net = createResNet({ depth, stem, rng: new Rng(0), initialize: false });
      expect(paramCount(net)).toBe(known);
      // Buffers: two running statistics per BN channel, i.e. as many values as the BN scales and shifts.
      const bnParams = net.variables().filter((v) => /bn\d?\.|downsample\.1\./.test(v.name) && v.trainable);
      expect(paramCount(net, false) - paramCount(net)).toBe(bnParams.reduce((s, v) => s + v.variable.size, 0));
      net.dispose();
    }
    const gray = createResNet({ depth: 18, inChannels: 1, rng: new Rng(0), initialize: false });
    expect(paramCount(gray)).toBe(resnetCount(18, 'cifar', 1));
    gray.dispose();
  });

  it('ViT-Tiny/16 and ViT-Small/16 at 224 match timm without the head', () => {
    // timm: vit_tiny_patch16_224 5,717,416 − 193,000 head; vit_small_patch16_224 22,050,664 − 385,000 head.
    expect(vitCount(192, 12, 224, 16, 3)).toBe(5_524_416);
    expect(vitCount(384, 12, 224, 16, 3)).toBe(21_665_664);
    const tiny = createVit({ variant: 'tiny', rng: new Rng(0), initialize: false });
    expect(paramCount(tiny)).toBe(5_524_416);
    tiny.dispose();
    const small = createVit({ variant: 'small', rng: new Rng(0), initialize: false });
    expect(paramCount(small)).toBe(21_665_664);
    small.dispose();
    const custom = createVit({ variant: 'tiny', imageSize: 28, patchSize: 4, inChannels: 1, depth: 2, rng: new Rng(0), initialize: false });
    expect(paramCount(custom)).toBe(vitCount(192, 2, 28, 4, 1));
    custom.dispose();
  });

  it('names are torchvision/timm paths; biases, norms and embeddings have no weight decay; buffers are not trainable', () => {
    const net = createResNet({ depth: 18, rng: new Rng(0), widthMultiplier: 0.125, initialize: false });
    const byName = new Map(net.variables().map((v) => [v.name, v]));
    expect([...byName.keys()].slice(0, 6)).toEqual([
      'conv1.weight',
      'bn1.weight',
      'bn1.bias',
      'bn1.running_mean',
      'bn1.running_var',
      'layer1.0.conv1.weight',
    ]);
    expect(byName.get('layer2.0.downsample.0.weight')?.variable.shape).toEqual([1, 1, 8, 16]);
    expect(byName.has('layer1.0.downsample.0.weight')).toBe(false);
    expect(byName.get('layer4.1.conv2.weight')?.decay).toBe(true);
    expect(byName.get('layer4.1.bn2.weight')?.decay).toBe(false);
    expect(byName.get('layer4.1.bn2.running_var')).toMatchObject({ trainable: false, decay: false });
    expect(byName.get('layer4.1.bn2.running_var')?.variable.trainable).toBe(false);
    net.dispose();
    const vit = createVit({ variant: 'tiny', imageSize: 8, patchSize: 4, depth: 1, rng: new Rng(0), initialize: false });
    const noDecay = vit.variables().filter((v) => !v.decay).map((v) => v.name);
    expect(noDecay).toEqual([
      'patch_embed.proj.bias',
      'cls_token',
      'pos_embed',
      'blocks.0.norm1.weight',
      'blocks.0.norm1.bias',
      'blocks.0.attn.qkv.bias',
      'blocks.0.attn.proj.bias',
      'blocks.0.norm2.weight',
      'blocks.0.norm2.bias',
      'blocks.0.mlp.fc1.bias',
      'blocks.0.mlp.fc2.bias',
      'norm.weight',
      'norm.bias',
    ]);
    vit.dispose();
  });
});

describe('initialisation', () => {
  it('is deterministic for a seed, differs across seeds, and has He statistics', () => {
    const values = (m: Module) => m.variables().map((v) => Array.from(v.variable.dataSync()));
    const a = createSmallCnn({ inChannels: 3, rng: new Rng(5) });
    const b = createSmallCnn({ inChannels: 3, rng: new Rng(5) });
    const c = createSmallCnn({ inChannels: 3, rng: new Rng(6) });
    expect(values(a)).toEqual(values(b));
    expect(values(a)[0]).not.toEqual(values(c)[0]);
    // He normal, fan_out: std = sqrt(2 / (3·3·out)) for the last conv (out = 256).
    const w = Float32Array.from(a.variables().find((v) => v.name === 'blocks.3.conv.weight')?.variable.dataSync() ?? []);
    const std = Math.sqrt(w.reduce((s, x) => s + x * x, 0) / w.length);
    expect(std).toBeCloseTo(Math.sqrt(2 / (9 * 256)), 3);
    const va = createVit({ variant: 'tiny', imageSize: 8, patchSize: 4, depth: 1, rng: new Rng(1) });
    const vb = createVit({ variant: 'tiny', imageSize: 8, patchSize: 4, depth: 1, rng: new Rng(1) });
    expect(values(va)).toEqual(values(vb));
    // Truncated normal at ±2σ, σ = 0.02.
    const qkv = Float32Array.from(va.variables().find((v) => v.name === 'blocks.0.attn.qkv.weight')?.variable.dataSync() ?? []);
    expect(Math.max(...Array.from(qkv, Math.abs))).toBeLessThanOrEqual(0.04 + 1e-7);
    for (const m of [a, b, c, va, vb]) m.dispose();
  });

  it('zeroInitResidual sets the last BN scale of every block to 0', () => {
    const net = createResNet({ depth: 18, rng: new Rng(0), widthMultiplier: 0.125, zeroInitResidual: true });
    const gammas = net.variables().filter((v) => /^layer\d\.\d\.bn2\.weight$/.test(v.name));
    expect(gammas.length).toBe(8);
    for (const g of gammas) expect(Array.from(g.variable.dataSync()).every((x) => x === 0)).toBe(true);
    expect(Array.from(net.variables()[1].variable.dataSync()).every((x) => x === 1)).toBe(true);
    net.dispose();
  });
});

describe('batch norm', () => {
  it('training mode: batch statistics, and running stats move by momentum 0.1 (unbiased variance)', () => {
    const store = nn.ParamStore.root();
    const bn = nn.batchNorm(store, 'bn', { numFeatures: 2 });
    const [gamma, beta] = [bn.gamma as tf.Variable, bn.beta as tf.Variable];
    gamma.assign(tf.tensor1d([2, 1]));
    beta.assign(tf.tensor1d([0.5, -1]));
    // Channel 0: 1, 2, 3, 6 → mean 3, biased var 3.5, unbiased 14/3. Channel 1: all 4 → var 0.
    const x = tf.tensor2d([1, 4, 2, 4, 3, 4, 6, 4], [4, 2]);
    const y = bn.apply(x, train);
    const eps = 1e-5;
    const expected0 = [1, 2, 3, 6].map((v) => ((v - 3) / Math.sqrt(3.5 + eps)) * 2 + 0.5);
    const got = y.arraySync() as number[][];
    got.forEach((row, i) => {
      expect(row[0]).toBeCloseTo(expected0[i], 5);
      expect(row[1]).toBeCloseTo(-1, 5);
    });
    const mean = Array.from(bn.runningMean.dataSync());
    const variance = Array.from(bn.runningVar.dataSync());
    expect(mean[0]).toBeCloseTo(0.3, 6);
    expect(mean[1]).toBeCloseTo(0.4, 6);
    expect(variance[0]).toBeCloseTo(0.9 + 0.1 * (14 / 3), 6);
    expect(variance[1]).toBeCloseTo(0.9, 6);

    // Eval mode uses the running statistics and leaves them alone.
    const z = bn.apply(x, eval_).arraySync() as number[][];
    expect(z[3][0]).toBeCloseTo(((6 - mean[0]) / Math.sqrt(variance[0] + eps)) * 2 + 0.5, 5);
    expect(z[3][1]).toBeCloseTo(((4 - mean[1]) / Math.sqrt(variance[1] + eps)) * 1 - 1, 5);
    expect(Array.from(bn.runningMean.dataSync())).toEqual(mean);
    expect(Array.from(bn.runningVar.dataSync())).toEqual(variance);
    expect(() => bn.apply(tf.ones([1, 2]), train)).toThrow(/more than one value per channel/);
    tf.dispose([x, y]);
    for (const v of store.variables()) v.variable.dispose();
  });

  it('in a network: training forwards update every running stat, eval forwards update none and depend on them', () => {
    const net = createSmallCnn({ inChannels: 1, widths: [8, 16], rng: new Rng(0) });
    const x = images(4, 12, 1);
    const buffers = () => net.variables().filter((v) => !v.trainable).map((v) => Array.from(v.variable.dataSync()));
    const initial = buffers();
    const evalBefore = net.apply(x, eval_);
    expect(buffers()).toEqual(initial);
    net.apply(x, train).dispose();
    const afterTrain = buffers();
    afterTrain.forEach((values, i) => {
      expect(values).not.toEqual(initial[i]);
    });
    const evalAfter = net.apply(x, eval_);
    expect(buffers()).toEqual(afterTrain);
    expect(maxAbsDiff(evalBefore, evalAfter)).toBeGreaterThan(1e-3);
    // A second eval pass is bit-identical: nothing moved.
    const evalAgain = net.apply(x, eval_);
    expect(maxAbsDiff(evalAfter, evalAgain)).toBe(0);
    tf.dispose([x, evalBefore, evalAfter, evalAgain]);
    net.dispose();
  });
});

describe('memory', () => {
  it('numTensors is constant across forward passes in both modes', () => {
    const nets: Array<{ m: Module; x: Tensor4D }> = [
      { m: createSmallCnn({ inChannels: 1, widths: [4, 8, 8, 8], rng: new Rng(0) }), x: images(2, 28, 1) },
      { m: createResNet({ depth: 18, stem: 'imagenet', rng: new Rng(0), widthMultiplier: 0.125 }), x: images(2, 32, 3) },
      { m: createResNet({ depth: 50, rng: new Rng(0), widthMultiplier: 0.0625 }), x: images(2, 16, 3) },
      { m: createVit({ variant: 'tiny', imageSize: 16, patchSize: 4, depth: 2, rng: new Rng(0) }), x: images(2, 16, 3) },
      { m: createMlpHead({ inDim: 8, hiddenDim: 16, outDim: 4, layers: 3, batchNorm: true, lastBatchNorm: true, rng: new Rng(0) }), x: images(2, 1, 8) },
    ];
    for (const { m, x } of nets) {
      const input = x.shape[1] === 1 ? tf.reshape(x, [2, 8]) : x;
      const counts: number[] = [];
      for (let i = 0; i < 3; i++) {
        tf.tidy(() => {
          m.apply(input, train);
          m.apply(input, eval_);
        });
        const y = m.apply(input, i % 2 === 0 ? train : eval_);
        y.dispose();
        counts.push(tf.memory().numTensors);
      }
      expect(new Set(counts).size).toBe(1);
      if (input !== x) input.dispose();
      x.dispose();
      const before = tf.memory().numTensors;
      const vars = m.variables().length;
      m.dispose();
      expect(tf.memory().numTensors).toBe(before - vars);
      expect(() => m.apply(input, eval_)).toThrow(/disposed/);
    }
  });
});

describe('weights', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'genview-weights-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const build = (seed: number) => ({
    cnn: createSmallCnn({ inChannels: 1, widths: [4, 8], rng: new Rng(seed) }),
    vit: createVit({ variant: 'tiny', imageSize: 8, patchSize: 4, depth: 1, inChannels: 1, rng: new Rng(seed) }),
    head: createMlpHead({ inDim: 8, hiddenDim: 16, outDim: 4, layers: 2, batchNorm: true, lastBatchNorm: false, rng: new Rng(seed) }),
  });
  const outputs = (m: ReturnType<typeof build>, x: Tensor4D, mode = eval_) =>
    tf.tidy(() => [m.head.apply(m.cnn.apply(x, mode), mode), m.vit.apply(x, mode)]);
  const disposeAll = (m: ReturnType<typeof build>) => {
    m.cnn.dispose();
    m.vit.dispose();
    m.head.dispose();
  };

  it('save/load through a safetensors file reproduces outputs exactly (running stats included)', async () => {
    const a = build(1);
    const x = images(3, 8, 1);
    // Move the running statistics off their initial values so the file must carry them.
    tf.dispose(outputs(a, x, train));
    const path = join(dir, 'model.safetensors');
    await saveWeights(path, [a.cnn, a.vit, a.head], { epoch: '3' });
    const b = build(2);
    const before = outputs(b, x);
    const { metadata } = await loadWeights(path, [b.cnn, b.vit, b.head]);
    expect(metadata).toMatchObject({ epoch: '3', 'genview.format': 'genview-weights/1' });
    const [ya, yb] = [outputs(a, x), outputs(b, x)];
    for (let i = 0; i < ya.length; i++) {
      expect(Array.from(yb[i].dataSync())).toEqual(Array.from(ya[i].dataSync()));
      expect(maxAbsDiff(before[i], yb[i])).toBeGreaterThan(0);
    }
    // The file is plain safetensors: F32 tensors under dotted, module-prefixed names.
    const file = decodeSafetensors((await readFileIfExists(path)) ?? new Uint8Array());
    expect(file.tensors['small-cnn.blocks.0.bn.running_mean'].dtype).toBe('float32');
    expect(file.tensors['vit-tiny.blocks.0.attn.qkv.weight'].shape).toEqual([192, 576]);
    expect(file.tensors['mlp-head.layers.1.fc.bias'].shape).toEqual([4]);
    tf.dispose([x, ...before, ...ya, ...yb]);
    disposeAll(a);
    disposeAll(b);
  });

  it('getWeights/setWeights in memory, keyed by record names', () => {
    const online = createSmallCnn({ inChannels: 1, widths: [4], rng: new Rng(1) });
    const target = createSmallCnn({ inChannels: 1, widths: [4], rng: new Rng(2) });
    const w = getWeights({ online });
    expect(Object.keys(w)).toContain('online.blocks.0.conv.weight');
    // The copy is detached from the variable.
    w['online.blocks.0.conv.weight'].data[0] += 1;
    expect(online.variables()[0].variable.dataSync()[0]).not.toBe(w['online.blocks.0.conv.weight'].data[0]);
    w['online.blocks.0.conv.weight'].data[0] -= 1;
    const renamed = Object.fromEntries(Object.entries(w).map(([k, v]) => [k.replace(/^online\./, 'target.'), v]));
    setWeights({ target }, renamed);
    expect(getWeights({ target })['target.blocks.0.conv.weight'].data).toEqual(w['online.blocks.0.conv.weight'].data);
    expect(() => getWeights([online, target])).toThrow(/two modules give the weight name "small-cnn.blocks.0.conv.weight"/);
    online.dispose();
    target.dispose();
  });

  it('reports missing, mis-shaped and extra names, and changes nothing when it refuses', async () => {
    const a = createSmallCnn({ inChannels: 1, widths: [4, 8], rng: new Rng(1) });
    const path = join(dir, 'cnn.safetensors');
    await saveWeights(path, [a]);

    const wider = createSmallCnn({ inChannels: 1, widths: [4, 16], rng: new Rng(2) });
    const snapshot = getWeights([wider]);
    const error = await loadWeights(path, [wider]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GenviewError);
    expect((error as GenviewError).code).toBe('CHECKPOINT');
    expect((error as GenviewError).message).toMatch(/"small-cnn.blocks.1.conv.weight" has shape \[3, 3, 4, 8\] in the weights but the variable expects \[3, 3, 4, 16\]/);
    expect(getWeights([wider])).toEqual(snapshot);

    const deeper = createSmallCnn({ inChannels: 1, widths: [4, 8, 8], rng: new Rng(2) });
    await expect(loadWeights(path, [deeper])).rejects.toThrow(/missing 5 weight\(s\): small-cnn.blocks.2.conv.weight, small-cnn.blocks.2.bn.weight/);

    const shallower = createSmallCnn({ inChannels: 1, widths: [4], rng: new Rng(2) });
    await expect(loadWeights(path, [shallower])).rejects.toThrow(/5 weight\(s\) match no variable: small-cnn.blocks.1/);
    await loadWeights(path, [shallower], { strict: false });
    expect(getWeights([shallower])['small-cnn.blocks.0.conv.weight']).toEqual(getWeights([a])['small-cnn.blocks.0.conv.weight']);

    await expect(loadWeights(join(dir, 'absent.safetensors'), [a])).rejects.toThrow(/NOT_FOUND.*no weights file/);
    for (const m of [a, wider, deeper, shallower]) m.dispose();
  });
});
