import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GenviewError, Rng, type SafetensorsTensor, decodeSafetensors, encodeSafetensors, tf } from '@genview/core';
import { createResNet, createVit, fromTorchStateDict, loadTorchWeights, nn, saveTorchWeights, setTorchWeights, toTorchStateDict } from '@genview/backbones';
import { TIMM_VIT_SCRIPT, TORCHVISION_RESNET_SCRIPT, runPython, torchPython } from '../../../tools/torch/torch-python';
import { maxAbsDiff } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'genview-torch-weights-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function f32(shape: number[], seed: number): SafetensorsTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: new Rng(seed).normalArray(n) };
}

function caught(fn: () => unknown): GenviewError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GenviewError);
    return error as GenviewError;
  }
  throw new Error('expected a GenviewError');
}

/** A conv (HWIO here) and a linear layer ([in, out] here), as the smallest module that has both layouts. */
function tinyModule() {
  const store = nn.ParamStore.root();
  const rng = new Rng(3);
  const conv = nn.conv2d(store, 'conv1', { inChannels: 2, outChannels: 3, kernelSize: 3 }, rng);
  const bn = nn.batchNorm(store, 'bn1', { numFeatures: 3 });
  const fc = nn.linear(store, 'proj', { inDim: 3, outDim: 4 }, rng);
  return { name: 'tiny', conv, bn, fc, variables: () => store.variables(), apply: (x: tf.Tensor) => x, dispose: () => {
      for (const v of store.variables()) v.variable.dispose();
    },
  };
}

describe('PyTorch state dicts', () => {
  it('maps OIHW convolutions to HWIO, [out, in] linear weights to [in, out], and copies the rest', () => {
    const m = tinyModule();
    // PyTorch layouts: conv [O=3, I=2, 3, 3], linear [out=4, in=3].
    const state = {
      'conv1.weight': f32([3, 2, 3, 3], 1),
      'bn1.weight': f32([3], 2),
      'bn1.bias': f32([3], 3),
      'bn1.running_mean': f32([3], 4),
      'bn1.running_var': { dtype: 'float32' as const, shape: [3], data: Float32Array.of(0.5, 1, 2) },
      'bn1.num_batches_tracked': { dtype: 'int32' as const, shape: [], data: Int32Array.of(7), stored: 'I64' as const },
      'proj.weight': f32([4, 3], 5),
      'proj.bias': f32([4], 6),
      'fc.weight': f32([10, 4], 7),
      'fc.bias': f32([10], 8),
    };
    const report = setTorchWeights(m, state);
    expect(report).toMatchObject({ loaded: 7, prefix: '', storedDtypes: { F32: 7 } });
    expect(report.ignored.sort()).toEqual(['bn1.num_batches_tracked', 'fc.bias', 'fc.weight']);
    const w = m.conv.weight.arraySync() as number[][][][];
    const src = state['conv1.weight'].data;
    for (let o = 0; o < 3; o++) for (let i = 0; i < 2; i++) for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) {
      expect(w[y][x][i][o]).toBe(src[((o * 2 + i) * 3 + y) * 3 + x]);
    }
    const lw = m.fc.weight.arraySync() as number[][];
    for (let o = 0; o < 4; o++) for (let i = 0; i < 3; i++) expect(lw[i][o]).toBe(state['proj.weight'].data[o * 3 + i]);
    expect(Array.from(m.bn.runningVar.dataSync())).toEqual([0.5, 1, 2]);

    // And back: the exported dict equals what came in (less the ignored keys).
    const back = toTorchStateDict(m);
    for (const [key, t] of Object.entries(back)) {
      expect(t.shape).toEqual(state[key as keyof typeof state].shape);
      expect(Array.from(t.data)).toEqual(Array.from(state[key as keyof typeof state].data));
    }
    m.dispose();
  });

  it('finds a prefix (solo-learn style "backbone.") and ignores keys outside it', () => {
    const m = tinyModule();
    const state: Record<string, SafetensorsTensor> = {};
    for (const [key, t] of Object.entries(toTorchStateDict(m))) state[`backbone.${key}`] = t;
    state['projector.0.weight'] = f32([8, 3], 9);
    expect(setTorchWeights(m, state).prefix).toBe('backbone.');
    m.dispose();
  });

  it('lists missing, unexpected and mis-shaped keys in one error, and assigns nothing', () => {
    const m = tinyModule();
    const before = Array.from(m.conv.weight.dataSync());
    const state = toTorchStateDict(m);
    delete state['bn1.running_mean'];
    state['conv1.weight'] = f32([3, 3, 2, 3], 1); // HWIO-shaped: a file that skipped the transpose
    state['layer9.0.conv1.weight'] = f32([1], 2);
    state['proj.weight'].data = new Float32Array(12).fill(1);
    const error = caught(() => setTorchWeights(m, state, { source: 'x.safetensors' }));
    expect(error.code).toBe('CHECKPOINT');
    expect(error.message).toMatch(/missing 1 key\(s\): bn1.running_mean/);
    expect(error.message).toMatch(/1 unexpected key\(s\): layer9.0.conv1.weight/);
    expect(error.message).toMatch(/conv1.weight is \[3, 3, 2, 3\], expected \[3, 2, 3, 3\]/);
    expect(error.where).toBe('x.safetensors');
    expect(Array.from(m.conv.weight.dataSync())).toEqual(before);
    expect(Array.from(m.fc.weight.dataSync())).not.toEqual(new Array(12).fill(1));
    m.dispose();
  });

  it('round-trips a ResNet-50 and a ViT through a torch-layout file (F32 exactly, BF16 within its rounding)', async () => {
    const images = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const a = createResNet({ depth: 50, stem: 'imagenet', rng: new Rng(1) });
    const b = createResNet({ depth: 50, stem: 'imagenet', rng: new Rng(2), initialize: false });
    const path = join(dir, 'r50.safetensors');
    await saveTorchWeights(path, a);
    const header = decodeSafetensors(readFileSync(path));
    expect(header.tensors['layer4.2.conv3.weight'].shape).toEqual([2048, 512, 1, 1]);
    expect(header.tensors['conv1.weight'].shape).toEqual([64, 3, 7, 7]);
    expect(header.metadata.format).toBe('pt');
    await loadTorchWeights(path, b);
    expect(maxAbsDiff(a.apply(images, { training: false }), b.apply(images, { training: false }))).toBe(0);
    a.dispose();
    b.dispose();

    const v1 = createVit({ variant: 'tiny', imageSize: 32, patchSize: 8, depth: 2, rng: new Rng(3) });
    const v2 = createVit({ variant: 'tiny', imageSize: 32, patchSize: 8, depth: 2, rng: new Rng(4) });
    const state = toTorchStateDict(v1, 'BF16');
    expect(state['blocks.0.attn.qkv.weight'].shape).toEqual([576, 192]);
    expect(state['patch_embed.proj.weight'].shape).toEqual([192, 3, 8, 8]);
    const file = decodeSafetensors(encodeSafetensors(state));
    expect(setTorchWeights(v2, file.tensors).storedDtypes).toEqual({ BF16: v1.variables().length });
    const diff = maxAbsDiff(v1.apply(images, { training: false }), v2.apply(images, { training: false }));
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(0.05);
    v1.dispose();
    v2.dispose();
    images.dispose();
  });

  it('refuses a ViT checkpoint for another image size, naming the position embedding', () => {
    const v1 = createVit({ variant: 'tiny', imageSize: 32, patchSize: 8, depth: 1, rng: new Rng(3) });
    const v2 = createVit({ variant: 'tiny', imageSize: 48, patchSize: 8, depth: 1, rng: new Rng(4) });
    const error = caught(() => fromTorchStateDict(v2, toTorchStateDict(v1)));
    expect(error.message).toMatch(/pos_embed is \[1, 17, 192\], expected \[1, 37, 192\]/);
    v1.dispose();
    v2.dispose();
  });
});

const torch = torchPython();

/** NCHW (PyTorch) images to our NHWC. */
function nhwc(t: SafetensorsTensor): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(t.data as Float32Array, t.shape as [number, number, number, number]), [0, 2, 3, 1]));
}

describe('against PyTorch', () => {
  it.skipIf(!torch.python)(`a torchvision ResNet-18's features, with F32 and BF16 weights, match ours to 1e-4${torch.reason}`, { timeout: 120_000 }, async () => {
    const python = torch.python as string;
    for (const dtype of ['F32', 'BF16'] as const) {
      const w = join(dir, `tv-${dtype}.safetensors`);
      const x = join(dir, `x-${dtype}.safetensors`);
      const f = join(dir, `f-${dtype}.safetensors`);
      runPython(python, [TORCHVISION_RESNET_SCRIPT, 'export', '--depth', '18', '--seed', '0', '--dtype', dtype, '--weights', w, '--input', x, '--features', f]);
      const net = createResNet({ depth: 18, stem: 'imagenet', rng: new Rng(0), initialize: false });
      const report = await loadTorchWeights(w, net);
      expect(report.loaded).toBe(net.variables().length);
      expect(report.storedDtypes).toEqual({ [dtype]: net.variables().length });
      // 20 batch-norm counters and the classifier.
      expect(report.ignored.length).toBe(22);
      const images = nhwc(decodeSafetensors(readFileSync(x)).tensors.images);
      const ref = decodeSafetensors(readFileSync(f)).tensors.features;
      const expected = tf.tensor2d(ref.data as Float32Array, ref.shape as [number, number]);
      const ours = net.apply(images, { training: false });
      expect(ours.shape).toEqual([2, 512]);
      // Features are O(10); a misplaced tensor moves them by O(1).
      expect(tf.max(tf.abs(expected)).dataSync()[0]).toBeGreaterThan(1);
      expect(maxAbsDiff(ours, expected)).toBeLessThan(1e-4);
      tf.dispose([images, expected, ours]);
      net.dispose();
    }
  });

  it.skipIf(!torch.python)(`a timm-shaped ViT-Tiny's class-token features match ours to 1e-4${torch.reason}`, { timeout: 120_000 }, async () => {
    const [w, x, f] = ['vit.safetensors', 'vit-x.safetensors', 'vit-f.safetensors'].map((n) => join(dir, n));
    runPython(torch.python as string, [TIMM_VIT_SCRIPT, 'export', '--variant', 'tiny', '--image-size', '32', '--patch-size', '8', '--depth', '2', '--weights', w, '--input', x, '--features', f]);
    const vit = createVit({ variant: 'tiny', imageSize: 32, patchSize: 8, depth: 2, rng: new Rng(0), initialize: false });
    const report = await loadTorchWeights(w, vit);
    expect(report.ignored).toEqual(['head.bias', 'head.weight']);
    const images = nhwc(decodeSafetensors(readFileSync(x)).tensors.images);
    const ref = decodeSafetensors(readFileSync(f)).tensors.features;
    const expected = tf.tensor2d(ref.data as Float32Array, ref.shape as [number, number]);
    const ours = vit.apply(images, { training: false });
    expect(ours.shape).toEqual([2, 192]);
    expect(tf.max(tf.abs(expected)).dataSync()[0]).toBeGreaterThan(0.5);
    expect(maxAbsDiff(ours, expected)).toBeLessThan(1e-4);
    tf.dispose([images, expected, ours]);
    vit.dispose();
  });

  it.skipIf(!torch.python)(`our exported ResNet-18 loads into the torchvision-shaped network strictly, with features equal to 1e-4${torch.reason}`, { timeout: 120_000 }, async () => {
    const python = torch.python as string;
    const net = createResNet({ depth: 18, stem: 'imagenet', rng: new Rng(11) });
    // Non-default statistics, as after training, so a swapped mean and variance would show.
    tf.tidy(() => {
      for (const v of net.variables()) {
        if (v.name.endsWith('running_mean')) v.variable.assign(tf.randomNormal(v.variable.shape, 0, 0.2, 'float32', 1));
        if (v.name.endsWith('running_var')) v.variable.assign(tf.randomUniform(v.variable.shape, 0.5, 1.5, 'float32', 2));
      }
    });
    const w = join(dir, 'ours.safetensors');
    const x = join(dir, 'ours-x.safetensors');
    const f = join(dir, 'ours-f.safetensors');
    await saveTorchWeights(w, net);
    const imagesNchw = tf.randomUniform([2, 3, 64, 64], 0, 1, 'float32', 3);
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(x, encodeSafetensors({ images: { dtype: 'float32', shape: [2, 3, 64, 64], data: imagesNchw.dataSync() as Float32Array } })),
    );
    runPython(python, [TORCHVISION_RESNET_SCRIPT, 'features', '--depth', '18', '--weights', w, '--input', x, '--features', f]);
    const ref = decodeSafetensors(readFileSync(f)).tensors.features;
    const images = tf.transpose(imagesNchw, [0, 2, 3, 1]) as tf.Tensor4D;
    const ours = net.apply(images, { training: false });
    expect(maxAbsDiff(ours, tf.tensor2d(ref.data as Float32Array, ref.shape as [number, number]))).toBeLessThan(1e-4);
    tf.dispose([imagesNchw, images, ours]);
    net.dispose();
  });
});
