import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { type Backbone, Rng, isGenviewError, tf } from '@genview/core';
import { backboneToOnnx, createMlpHead, createResNet, createSmallCnn, createVit, saveBackboneOnnx } from '@genview/backbones';

const dir = mkdtempSync(join(tmpdir(), 'genview-onnx-out-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A python3 with the onnx package (Debian's python3-onnx), for an independent check of the file. */
const onnxPython = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import onnx'], { timeout: 60_000 }).status === 0);

/** Batch-norm statistics and scales far from their defaults, so a mistake in the folding shows. */
function randomizeNorms(module: Backbone, seed: number): void {
  const rng = new Rng(seed);
  tf.tidy(() => {
    for (const v of module.variables()) {
      const n = v.variable.size;
      const draw = (lo: number, hi: number) => Float32Array.from({ length: n }, () => rng.uniform(lo, hi));
      if (v.name.endsWith('running_mean') || v.name.endsWith('.bias')) v.variable.assign(tf.tensor(draw(-0.3, 0.3), v.variable.shape));
      else if (v.name.endsWith('running_var') || (v.name.endsWith('.weight') && v.variable.shape.length === 1)) v.variable.assign(tf.tensor(draw(0.5, 1.5), v.variable.shape));
    }
  });
}

/** Our eval-mode features and onnxruntime's for the same NCHW batch; returns the max difference relative to the features' scale. */
async function compare(backbone: Backbone, size: number, channels = 3): Promise<{ relative: number; dims: readonly number[] }> {
  const model = backboneToOnnx(backbone);
  const session = await ort.InferenceSession.create(model.bytes);
  try {
    const nchw = tf.randomUniform([4, channels, size, size], 0, 1, 'float32', 7);
    const nhwc = tf.transpose(nchw, [0, 2, 3, 1]) as tf.Tensor4D;
    const ours = tf.tidy(() => backbone.apply(nhwc, { training: false }).dataSync() as Float32Array);
    const out = await session.run({ pixels: new ort.Tensor('float32', nchw.dataSync() as Float32Array, [4, channels, size, size]) });
    tf.dispose([nchw, nhwc]);
    const theirs = out.features.data as Float32Array;
    expect(theirs.length).toBe(ours.length);
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < ours.length; i++) {
      diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
      scale = Math.max(scale, Math.abs(ours[i]));
    }
    expect(scale).toBeGreaterThan(0);
    return { relative: diff / scale, dims: out.features.dims };
  } finally {
    await session.release();
  }
}

describe('backbones as ONNX models', () => {
  it('small-cnn: onnxruntime gives our features to 1e-4', async () => {
    const net = createSmallCnn({ inChannels: 3, widths: [8, 16, 16, 32], rng: new Rng(1) });
    randomizeNorms(net, 2);
    const { relative, dims } = await compare(net, 32);
    expect(dims).toEqual([4, 32]);
    expect(relative).toBeLessThan(1e-4);
    net.dispose();
  });

  it('resnet-18 (imagenet and cifar stems) and a narrow resnet-50: onnxruntime gives our features to 1e-4', { timeout: 120_000 }, async () => {
    for (const [options, dim] of [
      [{ depth: 18, stem: 'imagenet' }, 512],
      [{ depth: 18, stem: 'cifar', widthMultiplier: 0.25 }, 128],
      [{ depth: 50, stem: 'imagenet', widthMultiplier: 0.25 }, 512],
    ] as const) {
      const net = createResNet({ ...options, rng: new Rng(3) });
      randomizeNorms(net, 4);
      const { relative, dims } = await compare(net, 32);
      expect(dims).toEqual([4, dim]);
      expect(relative, JSON.stringify(options)).toBeLessThan(1e-4);
      net.dispose();
    }
  });

  it('vit-tiny (2 blocks, 32px, 8px patches): onnxruntime gives our class-token features to 1e-4', async () => {
    const net = createVit({ variant: 'tiny', imageSize: 32, patchSize: 8, depth: 2, rng: new Rng(5) });
    randomizeNorms(net, 6);
    // Larger query/key weights than the 0.02 init, so attention is peaked and a wrong head split or scale shows.
    tf.tidy(() => {
      for (const v of net.variables()) if (v.name.endsWith('attn.qkv.weight')) v.variable.assign(tf.mul(v.variable, 25));
    });
    const { relative, dims } = await compare(net, 32);
    expect(dims).toEqual([4, 192]);
    expect(relative).toBeLessThan(1e-4);
    net.dispose();
  });

  it(`passes the onnx package's full checker${onnxPython ? '' : ' [skipped: no python3 with onnx; apt-get install python3-onnx]'}`, { timeout: 60_000 }, async (ctx) => {
    if (!onnxPython) ctx.skip();
    const files = [];
    for (const [name, net] of [
      ['small-cnn', createSmallCnn({ inChannels: 1, widths: [4, 8], rng: new Rng(1) })],
      ['resnet', createResNet({ depth: 18, stem: 'imagenet', widthMultiplier: 0.125, rng: new Rng(1) })],
      ['vit', createVit({ variant: 'tiny', imageSize: 16, patchSize: 8, depth: 1, rng: new Rng(1) })],
    ] as const) {
      const file = join(dir, `${name}.onnx`);
      await saveBackboneOnnx(file, net, { metadata: { 'genview.backbone': name } });
      net.dispose();
      files.push(file);
    }
    const script = [
      'import sys, onnx',
      'for p in sys.argv[1:]:',
      '    m = onnx.load(p)',
      '    onnx.checker.check_model(m, full_check=True)',
      '    print(p, m.opset_import[0].version, [i.name for i in m.graph.input], [o.name for o in m.graph.output], dict((e.key, e.value) for e in m.metadata_props))',
    ].join('\n');
    const run = spawnSync(onnxPython as string, ['-c', script, ...files], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/vit\.onnx 17 \['pixels'\] \['features'\] \{'genview\.backbone': 'vit'\}/);
  });

  it('refuses a module it cannot describe, naming the safetensors fallback', () => {
    const head = createMlpHead({ inDim: 4, hiddenDim: 4, outDim: 2, layers: 2, batchNorm: false, lastBatchNorm: false, rng: new Rng(0) });
    const error = (() => {
      try {
        backboneToOnnx(head as unknown as Backbone);
      } catch (e) {
        return e;
      }
    })();
    expect(isGenviewError(error, 'INVALID_CONFIG')).toBe(true);
    expect(String((error as Error).message)).toMatch(/ResNet, small-cnn and ViT/);
    head.dispose();
  });
});
