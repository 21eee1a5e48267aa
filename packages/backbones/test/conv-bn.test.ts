import { Rng, type Tensor4D, tf } from '@genview/core';
import { describe, expect, it } from 'vitest';
import { createResNet, createSmallCnn, nn } from '../src/index';
import { images, maxAbsDiff } from './helpers';

const eval_ = { training: false };

/** The unfolded eval-mode reference: conv, then batch norm with running statistics, then the activation. */
function reference(conv: nn.Conv2d, bn: nn.BatchNorm, x: Tensor4D, activation: 'relu' | 'linear'): Tensor4D {
  return tf.tidy(() => {
    const y = bn.apply(conv.apply(x), eval_);
    return activation === 'relu' ? tf.relu(y) : y;
  });
}

/** Running statistics, scale and shift far from their initial values, so a wrong fold shows. */
function perturb(module: { variables(): { name: string; variable: tf.Variable }[] }, seed: number): void {
  const rng = new Rng(seed);
  for (const { name, variable } of module.variables()) {
    if (!/(running_mean|running_var|bn\d?\.(weight|bias)|\.1\.(weight|bias))$/.test(name)) continue;
    const values = rng.uniformArray(variable.size).map((u) => (name.endsWith('running_var') ? 0.2 + 2 * u : 2 * u - 1));
    variable.assign(tf.tensor(values, variable.shape));
  }
}

describe('convBn: batch norm folded into the convolution in eval mode', () => {
  for (const [label, options] of [
    ['3x3 stride 1 pad 1', { kernelSize: 3, stride: 1 }],
    ['3x3 stride 2 pad 1', { kernelSize: 3, stride: 2 }],
    ['1x1 stride 2 pad 0', { kernelSize: 1, stride: 2, padding: 0 }],
    ['7x7 stride 2 pad 3', { kernelSize: 7, stride: 2, padding: 3 }],
  ] as const) {
    for (const activation of ['relu', 'linear'] as const) {
      it(`matches conv → BN → ${activation} (${label})`, () => {
        const store = nn.ParamStore.root();
        const rng = new Rng(4);
        const conv = nn.conv2d(store, 'conv', { inChannels: 3, outChannels: 8, ...options }, rng);
        const bn = nn.batchNorm(store, 'bn', { numFeatures: 8 });
        perturb({ variables: () => store.variables().map((v) => ({ name: v.name, variable: v.variable })) }, 5);
        const x = images(3, 11, 3);
        const folded = nn.convBn(conv, bn, x, eval_, activation);
        const plain = reference(conv, bn, x, activation);
        expect(folded.shape).toEqual(plain.shape);
        expect(maxAbsDiff(folded, plain)).toBeLessThan(1e-4);
        tf.dispose([x, folded, plain]);
        for (const v of store.variables()) v.variable.dispose();
      });
    }
  }

  it('leaves training mode untouched: batch statistics and running-average updates as before', () => {
    const store = nn.ParamStore.root();
    const conv = nn.conv2d(store, 'conv', { inChannels: 3, outChannels: 4, kernelSize: 3 }, new Rng(1));
    const bn = nn.batchNorm(store, 'bn', { numFeatures: 4 });
    const x = images(4, 9, 3);
    const before = bn.runningMean.dataSync().slice();
    const y = nn.convBn(conv, bn, x, { training: true });
    const manual = tf.tidy(() => {
      const c = conv.apply(x);
      const { mean, variance } = tf.moments(c, [0, 1, 2]);
      return tf.relu(tf.div(tf.sub(c, mean), tf.sqrt(tf.add(variance, 1e-5))));
    });
    expect(maxAbsDiff(y, manual)).toBeLessThan(1e-4);
    expect(Array.from(bn.runningMean.dataSync())).not.toEqual(Array.from(before));
    tf.dispose([x, y, manual]);
    for (const v of store.variables()) v.variable.dispose();
  });

  it('gives the small CNN the eval features of the unfolded network, without leaking tensors', () => {
    const model = createSmallCnn({ inChannels: 1, rng: new Rng(2) });
    perturb(model, 6);
    const v = new Map(model.variables().map(({ name, variable }) => [name, variable as tf.Tensor]));
    const x = images(2, 16, 1);
    const expected = tf.tidy(() => {
      let h: tf.Tensor4D = x;
      for (let i = 0; i < 4; i++) {
        const at = (k: string) => v.get(`blocks.${i}.${k}`)!;
        const c = tf.conv2d(h, at('conv.weight') as tf.Tensor4D, i === 0 ? 1 : 2, 1);
        const normed = tf.div(tf.sub(c, at('bn.running_mean')), tf.sqrt(tf.add(at('bn.running_var'), 1e-5)));
        h = tf.relu(tf.add(tf.mul(normed, at('bn.weight')), at('bn.bias'))) as tf.Tensor4D;
      }
      return tf.mean(h, [1, 2]);
    });
    const before = tf.memory().numTensors;
    const features = model.apply(x, eval_);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(maxAbsDiff(features, expected)).toBeLessThan(1e-4);
    tf.dispose([x, features, expected]);
    model.dispose();
  });

  it('runs ResNet-18 in eval mode without leaking tensors', () => {
    const model = createResNet({ depth: 18, inChannels: 3, rng: new Rng(3), widthMultiplier: 0.25 });
    perturb(model, 7);
    const x = images(2, 16, 3);
    const before = tf.memory().numTensors;
    const features = model.apply(x, eval_);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(Array.from(features.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([x, features]);
    model.dispose();
  });
});
