import { type Module, Rng, type Tensor, type Tensor4D, selectBackend, tf } from '@genview/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createMlpHead, createResNet, createSmallCnn, createVit } from '../src/index';
import { images } from './helpers';

/**
 * Gradient-flow tests run on the backend the ladder picks when it has the conv weight-gradient kernel
 * (wasm gains it from core's training kernels), else on cpu. The cpu backend's Conv2DBackpropFilter is
 * slow (about 20x its forward conv), so the conv nets run on small inputs; every layer still sees data.
 * Finite differences always run on cpu, the exact reference.
 */
beforeAll(async () => {
  if (!tf.getKernel('Conv2DBackpropFilter', tf.getBackend())) await selectBackend({ force: 'cpu' });
});

const train = { training: true };

/**
 * A loss that batch norm cannot cancel: sum(features) is constant under batch-normalised inputs, so its
 * gradient to everything before the last BN would be zero by construction. A fixed random projection
 * followed by a square has no such invariance.
 */
function lossOf(module: Module, x: Tensor, projection: Tensor): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.square(tf.matMul(module.apply(x, train) as tf.Tensor2D, projection as tf.Tensor2D))));
}

function projectionFor(dim: number): tf.Tensor2D {
  return tf.tensor2d(new Rng(99).normalArray(dim * 3), [dim, 3]);
}

/** Every trainable variable gets a finite, non-zero gradient; buffers get none. */
function expectGradientsEverywhere(module: Module, x: Tensor): void {
  const projection = projectionFor(x.rank === 2 ? (module as unknown as { outDim: number }).outDim : (module as unknown as { featureDim: number }).featureDim);
  const trainable = module.variables().filter((v) => v.trainable);
  const buffersBefore = module.variables().filter((v) => !v.trainable).map((v) => Array.from(v.variable.dataSync()));
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(
    () => lossOf(module, x, projection),
    trainable.map((v) => v.variable),
  );
  expect(Number.isFinite(value.dataSync()[0])).toBe(true);
  const zero: string[] = [];
  for (const v of trainable) {
    const g = grads[v.variable.name];
    const norm = g ? tf.tidy(() => tf.sum(tf.abs(g)).dataSync()[0]) : 0;
    if (!(norm > 0) || !Number.isFinite(norm)) zero.push(v.name);
  }
  expect(zero).toEqual([]);
  // The running statistics moved inside the tape (training mode) without being differentiated.
  const buffersAfter = module.variables().filter((v) => !v.trainable).map((v) => Array.from(v.variable.dataSync()));
  if (buffersBefore.length) expect(buffersAfter).not.toEqual(buffersBefore);
  tf.dispose([value, ...Object.values(grads)]);
  expect(tf.memory().numTensors).toBe(before);
  projection.dispose();
}

describe('gradients reach every trainable variable', () => {
  it('small-cnn (default widths, 12x12: maps of 12, 6, 3, 2)', () => {
    const net = createSmallCnn({ inChannels: 1, rng: new Rng(0) });
    const x = images(2, 12, 1);
    expectGradientsEverywhere(net, x);
    x.dispose();
    net.dispose();
  });

  it('resnet-18 (cifar stem, full width, 8x8: stage maps of 8, 4, 2, 1)', () => {
    const net = createResNet({ depth: 18, rng: new Rng(0) });
    const x = images(2, 8, 3);
    expectGradientsEverywhere(net, x);
    x.dispose();
    net.dispose();
  });

  it('resnet-50 bottlenecks and imagenet stem (narrow), vit, heads', () => {
    const r50 = createResNet({ depth: 50, stem: 'imagenet', rng: new Rng(0), widthMultiplier: 0.0625 });
    const x32 = images(2, 32, 3);
    expectGradientsEverywhere(r50, x32);
    r50.dispose();
    const vit = createVit({ variant: 'tiny', imageSize: 32, patchSize: 8, depth: 2, rng: new Rng(0) });
    expectGradientsEverywhere(vit, x32);
    vit.dispose();
    x32.dispose();
    const feats = tf.tensor2d(new Rng(4).normalArray(4 * 8), [4, 8]);
    const head = createMlpHead({ inDim: 8, hiddenDim: 16, outDim: 6, layers: 3, batchNorm: true, lastBatchNorm: false, rng: new Rng(0) });
    expectGradientsEverywhere(head, feats);
    head.dispose();
    feats.dispose();
  });
});

describe('gradients match finite differences (cpu)', () => {
  beforeAll(async () => {
    await selectBackend({ force: 'cpu' });
  });

  /** Central differences of the loss in a few coordinates of each variable, against tf's gradient. */
  function checkAgainstFiniteDifferences(module: Module, x: Tensor4D, featureDim: number, names: string[]): void {
    const projection = projectionFor(featureDim);
    const byName = new Map(module.variables().map((v) => [v.name, v.variable]));
    const variables = names.map((n) => byName.get(n) as tf.Variable);
    // The loss reads running stats only to update them; they do not feed the output in training mode.
    const { value, grads } = tf.variableGrads(() => lossOf(module, x, projection), variables);
    value.dispose();
    const h = 1e-2;
    for (const variable of variables) {
      const analytic = grads[variable.name].dataSync();
      const base = Float32Array.from(variable.dataSync());
      for (const i of [0, Math.floor(base.length / 2), base.length - 1]) {
        const at = (delta: number) => {
          const shifted = Float32Array.from(base);
          shifted[i] += delta;
          variable.assign(tf.tensor(shifted, variable.shape));
          return tf.tidy(() => lossOf(module, x, projection).dataSync()[0]);
        };
        const numeric = (at(h) - at(-h)) / (2 * h);
        variable.assign(tf.tensor(base, variable.shape));
        expect(Math.abs(numeric - analytic[i])).toBeLessThan(2e-2 * Math.max(1, Math.abs(numeric)));
      }
    }
    tf.dispose([projection, ...Object.values(grads)]);
  }

  it('through conv, training-mode batch norm, ReLU and pooling', () => {
    const net = createSmallCnn({ inChannels: 2, widths: [3, 4], rng: new Rng(3) });
    const x = images(3, 6, 2, 7);
    checkAgainstFiniteDifferences(net, x, 4, ['blocks.0.conv.weight', 'blocks.0.bn.weight', 'blocks.1.conv.weight', 'blocks.1.bn.bias']);
    x.dispose();
    net.dispose();
  });

  it('through attention, layer norm and GELU', () => {
    const vit = createVit({ variant: 'tiny', imageSize: 8, patchSize: 4, depth: 1, inChannels: 1, rng: new Rng(3) });
    const x = images(2, 8, 1, 7);
    checkAgainstFiniteDifferences(vit, x, 192, ['blocks.0.attn.qkv.weight', 'blocks.0.norm1.weight', 'blocks.0.mlp.fc1.weight', 'pos_embed']);
    x.dispose();
    vit.dispose();
  });
});
