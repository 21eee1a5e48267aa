import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventBus, Rng, isGenviewError, tf } from '@genview/core';
import { createResNet, saveTorchWeights } from '@genview/backbones';
import { createRegistry, createRunnerServices, runConfigSchema } from '@genview/runner';
import { withoutInitialWeights } from '../src/run/framework-ref';

const dir = mkdtempSync(join(tmpdir(), 'genview-torch-in-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SHAPE: [number, number, number] = [32, 32, 3];
const backboneRef = { name: 'resnet-18', stem: 'imagenet' };

function values(t: tf.Tensor): number[] {
  const out = Array.from(t.dataSync());
  t.dispose();
  return out;
}

function maxDiff(a: number[], b: number[]): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

describe('PyTorch weights in the runner', () => {
  it('serves safetensors:<file> as this config\'s backbone with those weights, and starts a backbone from weights:', async () => {
    const source = createResNet({ depth: 18, stem: 'imagenet', rng: new Rng(5) });
    const file = join(dir, 'resnet18.safetensors');
    await saveTorchWeights(file, source);
    const images = tf.randomUniform([2, ...SHAPE], 0, 1, 'float32', 2) as tf.Tensor4D;
    const expected = values(source.apply(images, { training: false }));

    const registry = createRegistry();
    const events = new EventBus();
    const logs: string[] = [];
    events.on('log', (e) => logs.push(e.message));
    const config = runConfigSchema.parse({ outDir: join(dir, 'run'), framework: { name: 'simclr', backbone: backboneRef } });
    const services = createRunnerServices({ config, imageShape: SHAPE, registry, events });
    const encoder = await services.featureExtractor(`safetensors:${file}`);
    expect(encoder.featureDim).toBe(512);
    expect(maxDiff(values(encoder.embed(images)), expected)).toBeLessThan(1e-5);
    expect(logs.join('\n')).toMatch(/safetensors:.*100 tensors \(100 F32\) in simclr's backbone/);

    const missing = await services.featureExtractor(`safetensors:${join(dir, 'nope.safetensors')}`).catch((e: unknown) => e);
    expect(isGenviewError(missing, 'NOT_FOUND')).toBe(true);

    // A ResNet-34 file for this ResNet-18 config: the extra blocks are named.
    const r34 = createResNet({ depth: 34, stem: 'imagenet', rng: new Rng(1), initialize: false });
    const file34 = join(dir, 'resnet34.safetensors');
    await saveTorchWeights(file34, r34);
    r34.dispose();
    const wrong = await services.featureExtractor(`safetensors:${file34}`).catch((e: unknown) => e);
    expect(isGenviewError(wrong, 'CHECKPOINT')).toBe(true);
    expect(String(wrong)).toMatch(/unexpected key\(s\): .*layer1\.2\.conv1\.weight/);
    services.dispose();

    // The same file as a backbone's initial weights; BYOL's target starts from them too.
    const framework = await registry.create(
      'framework',
      { name: 'byol', inputShape: SHAPE, backbone: { ...backboneRef, weights: file } },
      { rng: new Rng(0), events, path: 'framework' },
    );
    expect(maxDiff(values(framework.encoder().embed(images)), expected)).toBeLessThan(1e-5);
    const target = framework.stateModules().find((m) => m.name === 'target_backbone');
    expect(maxDiff(values(target!.apply(images, { training: false })), expected)).toBeLessThan(1e-5);
    expect(logs.join('\n')).toMatch(/resnet-18: 100 tensors \(100 F32\) from .*resnet18\.safetensors/);
    framework.dispose();
    source.dispose();
    images.dispose();
  });

  it('drops backbone initial weights when a checkpoint will fill the network, and nothing else', () => {
    const registry = createRegistry();
    const ref = {
      name: 'mcl',
      inner: { name: 'simclr', backbone: { name: 'resnet-18', weights: 'a.safetensors', stem: 'imagenet' }, loss: { name: 'nt-xent', weights: 'kept' } },
    };
    expect(withoutInitialWeights(registry, ref)).toEqual({
      name: 'mcl',
      inner: { name: 'simclr', backbone: { name: 'resnet-18', stem: 'imagenet' }, loss: { name: 'nt-xent', weights: 'kept' } },
    });
    expect(ref.inner.backbone.weights).toBe('a.safetensors');
    expect(withoutInitialWeights(registry, 'simclr')).toBe('simclr');
  });
});
