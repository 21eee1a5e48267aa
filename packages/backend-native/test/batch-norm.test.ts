import {
  BATCH_NORM_RELU_TRAINING_GRAD_KERNEL,
  BATCH_NORM_RELU_TRAINING_KERNEL,
  BATCH_NORM_TRAINING_GRAD_KERNEL,
  BATCH_NORM_TRAINING_KERNEL,
  Rng,
  batchNormTraining,
} from '@genview/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD } from '../src/kernels/batch-norm';
import { NATIVE, SKIP_REASON, expectFiniteDifferences, nativeBuilt, onBoth, randomArray, relError, tf, useNative } from './helpers';

/** y, mean, variance and the gradients in x, scale and offset of a weighted loss through the op. */
function forwardAndGrads(
  xs: number[],
  x: Float32Array,
  scale: Float32Array,
  offset: Float32Array,
  weight: Float32Array,
  activation: 'linear' | 'relu' = 'linear',
): tf.Tensor[] {
  const c = xs[xs.length - 1] as number;
  const stats: tf.Tensor[] = [];
  const op = (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
    batchNormTraining(a, s as tf.Tensor1D, o as tf.Tensor1D, {
      varianceEpsilon: 1e-5,
      activation,
      onStatistics: (mean, variance) => {
        if (stats.length === 0) stats.push(tf.keep(tf.clone(mean)), tf.keep(tf.clone(variance)));
      },
    });
  const w = tf.tensor(weight, xs);
  const inputs = [tf.tensor(x, xs), tf.tensor1d(scale), tf.tensor1d(offset)];
  const y = op(inputs[0] as tf.Tensor, inputs[1] as tf.Tensor, inputs[2] as tf.Tensor);
  const grads = tf.grads((a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => tf.sum(tf.mul(tf.tanh(op(a, s, o)), w)))(inputs);
  expect(stats[0]?.shape).toEqual([c]);
  return [y, ...stats, ...grads];
}

describe.skipIf(!nativeBuilt)(`fused training batch norm on genview-native${nativeBuilt ? '' : ` (skipped: ${SKIP_REASON})`}`, () => {
  beforeAll(async () => {
    await useNative();
  });

  it('registers the kernels under the names @genview/core runs', () => {
    expect([BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD]).toEqual([BATCH_NORM_TRAINING_KERNEL, BATCH_NORM_TRAINING_GRAD_KERNEL]);
    expect(tf.getKernel(BATCH_NORM_TRAINING_KERNEL, NATIVE)).toBeDefined();
    expect(tf.getKernel(BATCH_NORM_TRAINING_GRAD_KERNEL, NATIVE)).toBeDefined();
    expect(tf.getKernel(BATCH_NORM_TRAINING_KERNEL, 'cpu')).toBeUndefined();
  });

  it('matches the composed op on the cpu backend: outputs, statistics and gradients, small to threaded sizes', async () => {
    const rng = new Rng(31);
    const shapes = [[2, 1], [7, 3], [5, 4, 4, 8], [3, 2, 2, 130], [32, 16, 16, 16], [64, 8, 8, 64], [512, 256]];
    for (const xs of shapes) {
      const c = xs[xs.length - 1] as number;
      const x = randomArray(rng, xs, -2, 3);
      const scale = randomArray(rng, [c], 0.5, 1.5);
      const offset = randomArray(rng, [c]);
      const weight = randomArray(rng, xs);
      const result = await onBoth(() => forwardAndGrads(xs, x, scale, offset, weight));
      for (const [i, name] of ['y', 'mean', 'variance', 'dx', 'dscale', 'doffset'].entries()) {
        expect(relError(result.got[i] as Float32Array, result.ref[i] as Float32Array), `${name} for [${xs}]`).toBeLessThan(2e-4);
      }
    }
  });

  it('batch norm + ReLU runs its own fused pair, and matches batch norm then ReLU on the cpu backend', async () => {
    expect(tf.getKernel(BATCH_NORM_RELU_TRAINING_KERNEL, NATIVE)).toBeDefined();
    expect(tf.getKernel(BATCH_NORM_RELU_TRAINING_GRAD_KERNEL, NATIVE)).toBeDefined();
    const rng = new Rng(35);
    for (const xs of [[7, 3], [5, 4, 4, 8], [32, 16, 16, 16], [512, 256]]) {
      const c = xs[xs.length - 1] as number;
      const x = randomArray(rng, xs, -2, 3);
      const scale = randomArray(rng, [c], 0.5, 1.5);
      const offset = randomArray(rng, [c]);
      const weight = randomArray(rng, xs);
      const result = await onBoth(() => forwardAndGrads(xs, x, scale, offset, weight, 'relu'));
      // About half the outputs are clamped: the ReLU is really applied, not skipped.
      const zeros = (result.got[0] as Float32Array).filter((v) => v === 0).length / (result.got[0] as Float32Array).length;
      expect(zeros).toBeGreaterThan(0.2);
      for (const [i, name] of ['y', 'mean', 'variance', 'dx', 'dscale', 'doffset'].entries()) {
        expect(relError(result.got[i] as Float32Array, result.ref[i] as Float32Array), `${name} for [${xs}] with relu`).toBeLessThan(2e-4);
      }
    }
  });

  it('stays accurate when the mean dwarfs the spread', async () => {
    const rng = new Rng(32);
    const xs = [16, 6, 6, 4];
    const x = randomArray(rng, xs, -1, 1).map((v) => 1000 + 0.1 * v);
    await tf.setBackend(NATIVE);
    const [y, mean, variance] = tf.tidy(() => {
      const out = forwardAndGrads(xs, x, new Float32Array(4).fill(1), new Float32Array(4), new Float32Array(x.length).fill(1));
      return out.slice(0, 3).map((t) => Array.from(t.dataSync()));
    }) as number[][];
    const n = x.length / 4;
    for (let c = 0; c < 4; c++) {
      let s = 0;
      for (let i = c; i < x.length; i += 4) s += x[i] as number;
      const m = s / n;
      let v = 0;
      for (let i = c; i < x.length; i += 4) v += ((x[i] as number) - m) ** 2;
      expect(Math.abs((mean?.[c] as number) - m)).toBeLessThan(1e-3);
      expect(Math.abs((variance?.[c] as number) - v / n) / (v / n)).toBeLessThan(1e-2);
    }
    // Normalised outputs have unit spread per channel, not the float noise of a cancelled difference.
    let sq = 0;
    for (const v of y as number[]) sq += v * v;
    expect(Math.abs(sq / (y as number[]).length - 1)).toBeLessThan(0.05);
  });

  it('gradients agree with central finite differences', async () => {
    const rng = new Rng(33);
    const xs = [3, 4, 5, 3];
    const x = randomArray(rng, xs);
    const scale = randomArray(rng, [3], 0.5, 1.5);
    const offset = randomArray(rng, [3]);
    const weight = randomArray(rng, xs);
    await tf.setBackend(NATIVE);
    const loss = (xa: Float32Array, sa: Float32Array): number =>
      tf.tidy(() => {
        const y = batchNormTraining(tf.tensor(xa, xs), tf.tensor1d(sa), tf.tensor1d(offset), { varianceEpsilon: 1e-5 }).dataSync();
        let s = 0;
        for (let i = 0; i < y.length; i++) s += Math.tanh(y[i] as number) * (weight[i] as number);
        return s;
      });
    const [, , , dx, dscale] = tf.tidy(() => forwardAndGrads(xs, x, scale, offset, weight).map((t) => Float32Array.from(t.dataSync())));
    expectFiniteDifferences(rng, [
      { name: 'dx', values: x, grad: dx as Float32Array, loss: (p) => loss(p, scale) },
      { name: 'dscale', values: scale, grad: dscale as Float32Array, loss: (p) => loss(x, p) },
    ]);
  });
});
