import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventBus, Rng, decodeSafetensors, isGenviewError, tf } from '@genview/core';
import { createSmallCnn, saveBackboneOnnx } from '@genview/backbones';
import { createRegistry, createRunnerServices, main, runConfigSchema } from '@genview/runner';
import { TORCHVISION_RESNET_SCRIPT, runPython, torchPython } from '../../../tools/torch/torch-python';
import { sink } from './output-sink';

const dir = mkdtempSync(join(tmpdir(), 'genview-onnx-in-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const torch = torchPython();
const SHAPE: [number, number, number] = [32, 32, 3];

function values(t: tf.Tensor): Float32Array {
  const out = new Float32Array(t.dataSync() as Float32Array);
  t.dispose();
  return out;
}

/** Largest difference relative to the reference's largest magnitude. */
function relativeDiff(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return diff / scale;
}

/** torch.onnx.export of the torchvision-shaped ResNet-18 (random weights, seed 0), with its safetensors and PyTorch's features for a 4x3x32x32 batch. */
function torchExport(name: string, output: string): { onnx: string; weights: string; images: tf.Tensor4D; features: Float32Array } {
  const onnx = join(dir, `${name}.onnx`);
  const weights = join(dir, `${name}.safetensors`);
  const input = join(dir, `${name}-x.safetensors`);
  const features = join(dir, `${name}-f.safetensors`);
  runPython(torch.python as string, [TORCHVISION_RESNET_SCRIPT, 'export', '--depth', '18', '--seed', '0', '--batch', '4', '--size', '32', '--weights', weights, '--input', input, '--features', features, '--onnx', onnx, '--onnx-output', output]);
  const x = decodeSafetensors(readFileSync(input)).tensors.images;
  const images = tf.tidy(() => tf.transpose(tf.tensor4d(x.data as Float32Array, x.shape as [number, number, number, number]), [0, 2, 3, 1])) as tf.Tensor4D;
  return { onnx, weights, images, features: decodeSafetensors(readFileSync(features)).tensors.features.data as Float32Array };
}

function services() {
  const config = runConfigSchema.parse({ outDir: join(dir, 'run'), framework: { name: 'simclr', backbone: { name: 'resnet-18', stem: 'imagenet' } } });
  const events = new EventBus();
  const logs: string[] = [];
  events.on('log', (e) => logs.push(e.message));
  return { s: createRunnerServices({ config, imageShape: SHAPE, registry: createRegistry(), events }), logs };
}

describe('onnx:<file> encoders without PyTorch', () => {
  it('our own ONNX export of a small-cnn, loaded as onnx:<file>, embeds as the network does (grey images, NCHW feature dim read by a probe)', async () => {
    const net = createSmallCnn({ inChannels: 1, widths: [8, 16, 16], rng: new Rng(2) });
    const file = join(dir, 'small-cnn.onnx');
    await saveBackboneOnnx(file, net);
    const images = tf.randomUniform([5, 28, 28, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    const s = createRunnerServices({
      config: runConfigSchema.parse({ outDir: join(dir, 'run'), framework: { name: 'simclr', backbone: { name: 'small-cnn' } } }),
      imageShape: [28, 28, 1],
      registry: createRegistry(),
      events: new EventBus(),
    });
    try {
      const encoder = await s.featureExtractor(`onnx:${file}?batch=2`);
      expect(encoder.featureDim).toBe(16);
      const expected = values(net.apply(images, { training: false }));
      expect(relativeDiff(values(encoder.embed(images)), expected)).toBeLessThan(1e-4);
    } finally {
      s.dispose();
      net.dispose();
      images.dispose();
    }
  });
});

describe.skipIf(!torch.python)(`onnx:<file> encoders${torch.reason}`, () => {
  it('a torch.onnx.export ResNet-18 gives PyTorch\'s features to 1e-4, and the same as its safetensors weights in our ResNet', { timeout: 120_000 }, async () => {
    const { onnx, weights, images, features } = torchExport('r18', 'features');
    const { s, logs } = services();
    try {
      const encoder = await s.featureExtractor(`onnx:${onnx}`);
      expect(encoder.featureDim).toBe(512);
      expect(encoder.patchTokens).toBeUndefined();
      const ours = values(encoder.embed(images));
      expect(ours.length).toBe(4 * 512);
      expect(relativeDiff(ours, features)).toBeLessThan(1e-4);
      expect(logs.join('\n')).toMatch(/onnx:.*r18\.onnx: ONNX input NCHW 3x32x32 -> features \(features\) 512-d/);
      // Batches larger than batch= run in chunks with the same result.
      const chunked = await s.featureExtractor(`onnx:${onnx}?batch=3`);
      expect(relativeDiff(values(chunked.embed(images)), features)).toBeLessThan(1e-4);
      const torchWeights = await s.featureExtractor(`safetensors:${weights}`);
      expect(relativeDiff(values(torchWeights.embed(images)), ours)).toBeLessThan(1e-4);
      // mean/std are applied before the model: normalising by hand and asking for it agree, and differ from neither.
      const normalised = await s.featureExtractor(`onnx:${onnx}?norm=imagenet`);
      const byHand = tf.tidy(() => tf.div(tf.sub(images, [0.485, 0.456, 0.406]), [0.229, 0.224, 0.225])) as tf.Tensor4D;
      const a = values(normalised.embed(images));
      expect(relativeDiff(a, values(encoder.embed(byHand)))).toBeLessThan(1e-5);
      expect(relativeDiff(a, ours)).toBeGreaterThan(1e-2);
      byHand.dispose();
      // Grey images are repeated onto the model's three channels.
      const grey = tf.tidy(() => tf.mean(images, 3, true)) as tf.Tensor4D;
      const greyServices = createRunnerServices({
        config: runConfigSchema.parse({ outDir: join(dir, 'run'), framework: { name: 'simclr', backbone: { name: 'small-cnn' } } }),
        imageShape: [32, 32, 1],
        registry: createRegistry(),
        events: new EventBus(),
      });
      const greyEncoder = await greyServices.featureExtractor(`onnx:${onnx}`);
      const expected = values(encoder.embed(tf.tidy(() => tf.tile(grey, [1, 1, 1, 3])) as tf.Tensor4D));
      expect(relativeDiff(values(greyEncoder.embed(grey)), expected)).toBeLessThan(1e-5);
      greyServices.dispose();
      grey.dispose();

      // genview eval with eval.encoder (here --encoder) evaluates the ONNX model, then raw pixels.
      const config = join(dir, 'eval.yaml');
      writeFileSync(
        config,
        [
          `outDir: ${JSON.stringify(join(dir, 'eval-run'))}`,
          'data:',
          '  train: { name: colored-digits, split: train, count: 40, size: 32 }',
          '  test: { name: colored-digits, split: test, count: 20, size: 32 }',
          'framework: { name: simclr, backbone: { name: small-cnn } }',
          'eval: { evaluators: [knn], baselines: true }',
        ].join('\n'),
      );
      const out = sink();
      expect(await main(['eval', '--config', config, '--encoder', `onnx:${onnx}?norm=imagenet`, '--json', '--plain'], out, sink())).toBe(0);
      const result = JSON.parse(out.text());
      expect(result.evaluations.map((e: { encoder: string }) => e.encoder)).toEqual([`onnx:${onnx}?norm=imagenet`, 'raw pixels']);
      expect(result.evaluations[0].results[0]).toMatchObject({ evaluator: 'knn' });
    } finally {
      s.dispose();
      images.dispose();
    }
  });

  it('pools a token output [N, T, D] (mean, and patch tokens), and refuses bad names, files, shapes and outputs clearly', { timeout: 120_000 }, async () => {
    const tokens = torchExport('r18-tokens', 'tokens');
    const argmax = torchExport('r18-argmax', 'argmax');
    const { s } = services();
    try {
      const encoder = await s.featureExtractor(`onnx:${tokens.onnx}`);
      expect(encoder.featureDim).toBe(512);
      expect(relativeDiff(values(encoder.embed(tokens.images)), tokens.features)).toBeLessThan(1e-4);
      const patches = encoder.patchTokens?.(tokens.images);
      expect(patches?.shape).toEqual([4, 1, 512]);
      patches?.dispose();

      const fail = (name: string) => s.featureExtractor(name).then(() => undefined, (e: unknown) => e);
      const missing = await fail(`onnx:${join(dir, 'nope.onnx')}`);
      expect(isGenviewError(missing, 'NOT_FOUND')).toBe(true);
      const notFloat = await fail(`onnx:${argmax.onnx}`);
      expect(isGenviewError(notFloat, 'BAD_SHAPE')).toBe(true);
      expect(String(notFloat)).toMatch(/output "features" .* is int64.*not float features/);
      const noInput = await fail(`onnx:${tokens.onnx}?input=pixel_values`);
      expect(String(noInput)).toMatch(/has no input "pixel_values" \(it declares input: float32\[batch, 3, \d+, \d+\]\)/);
      const badOption = await fail(`onnx:${tokens.onnx}?pool=max`);
      expect(isGenviewError(badOption, 'BAD_INPUT')).toBe(true);
      expect(String(badOption)).toMatch(/pool=max is not mean or first/);
      const unknown = await fail(`onnx:${tokens.onnx}?colour=1`);
      expect(String(unknown)).toMatch(/"colour" is not an ONNX encoder option/);
      // 2-channel images for a 3-channel model: the expected input is named.
      const twoChannel = createRunnerServices({
        config: runConfigSchema.parse({ outDir: join(dir, 'run'), framework: { name: 'simclr', backbone: { name: 'small-cnn' } } }),
        imageShape: [32, 32, 2],
        registry: createRegistry(),
        events: new EventBus(),
      });
      const wrongChannels = await twoChannel.featureExtractor(`onnx:${tokens.onnx}`).then(() => undefined, (e: unknown) => e);
      twoChannel.dispose();
      expect(isGenviewError(wrongChannels, 'BAD_SHAPE')).toBe(true);
      expect(String(wrongChannels)).toMatch(/takes 3-channel images and these have 2/);
      const garbage = join(dir, 'garbage.onnx');
      writeFileSync(garbage, 'not a model');
      expect(isGenviewError(await fail(`onnx:${garbage}`), 'UNREADABLE_FILE')).toBe(true);
    } finally {
      s.dispose();
      tf.dispose([tokens.images, argmax.images]);
    }
  });
});
