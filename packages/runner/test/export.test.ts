import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { EventBus, decodeSafetensors, encodeSafetensors, tf } from '@genview/core';
import { createRegistry, createRunnerServices, main, readRunConfig } from '@genview/runner';
import { TORCHVISION_RESNET_SCRIPT, runPython, torchPython } from '../../../tools/torch/torch-python';
import { sink } from './output-sink';

const dir = mkdtempSync(join(tmpdir(), 'genview-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const torch = torchPython();

function values(t: tf.Tensor): number[] {
  const out = Array.from(t.dataSync());
  t.dispose();
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('genview export', () => {
  const outDir = join(dir, 'run');
  const config = join(dir, 'run.yaml');
  writeFileSync(
    config,
    [
      'seed: 3',
      `outDir: ${JSON.stringify(outDir)}`,
      'data:',
      '  train: { name: colored-digits, split: train, count: 32, size: 32 }',
      '  test: { name: colored-digits, split: test, count: 16, size: 32 }',
      'views:',
      '  pipelines:',
      '    - [ { name: random-resized-crop, size: 32, scale: [0.5, 1] } ]',
      '    - [ { name: random-resized-crop, size: 32, scale: [0.5, 1] } ]',
      'framework:',
      '  name: simclr',
      '  backbone: { name: resnet-18, stem: imagenet }',
      '  projector: { name: mlp-projector, hiddenDim: 16, outDim: 8 }',
      'optimizer: { name: adam }',
      'trainer: { steps: 2, batchSize: 16, lr: 1.0e-2, scaleLr: false, checkpointEvery: 2, logEvery: 1 }',
      'eval: { evaluators: [], baselines: false }',
    ].join('\n'),
  );
  const file = join(dir, 'backbone.safetensors');
  const inputs = join(dir, 'x.safetensors');
  let ours: number[] = [];
  let imagesNchwData = new Float32Array(0);

  it('writes the trained backbone with torchvision names and OIHW layout; it loads back as safetensors:<file> unchanged', { timeout: 180_000 }, async () => {
    expect(await main(['train', '--config', config, '--plain'], sink(), sink())).toBe(0);
    const out = sink();
    expect(await main(['export', '--run', outDir, '--out', file, '--json'], out, sink())).toBe(0);
    const result = JSON.parse(out.text());
    expect(result).toMatchObject({ format: 'safetensors', framework: 'simclr', backbone: 'resnet-18', step: 2, tensors: 100 });
    const { tensors, metadata } = decodeSafetensors(readFileSync(file));
    expect(tensors['conv1.weight'].shape).toEqual([64, 3, 7, 7]);
    expect(tensors['layer2.0.downsample.0.weight'].shape).toEqual([128, 64, 1, 1]);
    expect(metadata).toMatchObject({ format: 'pt', 'genview.step': '2' });

    // The trained encoder (from the checkpoint) and the exported file embed alike.
    const imagesNchw = tf.randomUniform([2, 3, 32, 32], 0, 1, 'float32', 4);
    writeFileSync(inputs, encodeSafetensors({ images: { dtype: 'float32', shape: [2, 3, 32, 32], data: imagesNchw.dataSync() as Float32Array } }));
    imagesNchwData = new Float32Array(imagesNchw.dataSync() as Float32Array);
    const images = tf.transpose(imagesNchw, [0, 2, 3, 1]) as tf.Tensor4D;
    const services = createRunnerServices({ config: readRunConfig(outDir), imageShape: [32, 32, 3], registry: createRegistry(), events: new EventBus() });
    ours = values((await services.featureExtractor(`checkpoint:${outDir}`)).embed(images));
    const reloaded = values((await services.featureExtractor(`safetensors:${file}`)).embed(images));
    expect(maxDiff(ours, reloaded)).toBeLessThan(1e-5);
    services.dispose();
    tf.dispose([imagesNchw, images]);
  });

  it('--format onnx writes a model onnxruntime runs on NCHW pixels, with our features to 1e-4', { timeout: 120_000 }, async () => {
    expect(ours.length).toBe(2 * 512);
    const out = sink();
    expect(await main(['export', '--run', outDir, '--format', 'onnx', '--json'], out, sink())).toBe(0);
    const result = JSON.parse(out.text());
    expect(result).toMatchObject({ format: 'onnx', out: join(outDir, 'backbone.onnx'), backbone: 'resnet-18', step: 2 });
    const session = await ort.InferenceSession.create(result.out);
    expect(session.inputNames).toEqual(['pixels']);
    expect(session.outputNames).toEqual(['features']);
    const features = (await session.run({ pixels: new ort.Tensor('float32', imagesNchwData, [2, 3, 32, 32]) })).features;
    await session.release();
    expect(features.dims).toEqual([2, 512]);
    const scale = ours.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(maxDiff(ours, features.data as Float32Array) / scale).toBeLessThan(1e-4);

    const err = sink();
    expect(await main(['export', '--run', outDir, '--format', 'onnx', '--dtype', 'F16'], sink(), err)).toBe(2);
    expect(err.text()).toMatch(/float32 weights.*safetensors only/s);
    expect(await main(['export', '--run', outDir, '--format', 'tflite'], sink(), err)).toBe(2);
    expect(err.text()).toMatch(/--format tflite is not supported.*safetensors or onnx/s);
  });

  it.skipIf(!torch.python)(`PyTorch loads the export strictly into the torchvision-shaped ResNet-18, with our features to 1e-4${torch.reason}`, { timeout: 120_000 }, () => {
    expect(ours.length).toBe(2 * 512);
    const features = join(dir, 'torch-features.safetensors');
    runPython(torch.python as string, [TORCHVISION_RESNET_SCRIPT, 'features', '--depth', '18', '--weights', file, '--input', inputs, '--features', features]);
    const ref = decodeSafetensors(readFileSync(features)).tensors.features;
    expect(ref.shape).toEqual([2, 512]);
    expect(maxDiff(ours, ref.data)).toBeLessThan(1e-4);
  });
});
