import { Rng, batchNormTraining } from '@genview/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { NATIVE, SKIP_REASON, nativeBuilt, randomArray, tf, useNative } from './helpers';

/**
 * A few fixed-seed SGD steps of a small conv net (conv, training-mode batch norm, relu; strided and
 * 'same'/'valid' convs; dense head; softmax cross-entropy) must give the same loss curve on 'genview-native'
 * (fused batch-norm kernels) as on the reference 'cpu' backend (composed ops), and leave no tensors behind.
 */
async function train(backend: string, steps: number): Promise<{ losses: number[]; tensors: number[] }> {
  await tf.setBackend(backend);
  const rng = new Rng(21);
  const init = (shape: [number, number, number, number], fanIn: number): tf.Variable<tf.Rank.R4> =>
    tf.variable(tf.mul(tf.tensor4d(randomArray(rng, shape, -1, 1), shape), Math.sqrt(3 / fanIn)));
  const w1 = init([3, 3, 2, 8], 18);
  const w2 = init([3, 3, 8, 12], 72);
  const w3 = init([2, 2, 12, 16], 48);
  const gamma = tf.variable(tf.ones([8]));
  const beta = tf.variable(tf.zeros([8]));
  const dense = tf.variable(tf.mul(tf.tensor2d(randomArray(rng, [16, 5]), [16, 5]), Math.sqrt(3 / 16)));
  const bias = tf.variable(tf.zeros([5]));
  const x = tf.tensor4d(randomArray(rng, [16, 12, 12, 2]), [16, 12, 12, 2]);
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 5), 'int32'), 5);
  const optimizer = tf.train.sgd(0.1);
  const lossFn = () => {
    let h: tf.Tensor4D = tf.conv2d(x, w1, 1, 'same');
    h = tf.relu(batchNormTraining(h, gamma, beta, { varianceEpsilon: 1e-5 }));
    h = tf.relu(tf.conv2d(h, w2, 2, 'valid'));
    h = tf.relu(tf.conv2d(h, w3, [2, 1], [[0, 0], [1, 0], [0, 1], [0, 0]]));
    const logits = tf.add(tf.matMul(tf.mean(h, [1, 2]), dense), bias);
    return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
  };
  const losses: number[] = [];
  const tensors: number[] = [];
  for (let s = 0; s < steps; s++) {
    const cost = optimizer.minimize(lossFn, true);
    losses.push((await cost!.data())[0]);
    cost!.dispose();
    tensors.push(tf.memory().numTensors);
  }
  tf.dispose([w1, w2, w3, gamma, beta, dense, bias, x, labels]);
  optimizer.dispose();
  return { losses, tensors };
}

describe.skipIf(!nativeBuilt)(`genview-native training${nativeBuilt ? '' : ` (skipped: ${SKIP_REASON})`}`, () => {
  beforeAll(async () => {
    await useNative();
  });

  it('gives the cpu backend loss curve to 1e-4 and a constant tensor count', async () => {
    const ref = await train('cpu', 6);
    const got = await train(NATIVE, 6);
    expect(ref.losses[5]).toBeLessThan(ref.losses[0]); // it does learn
    for (const [i, l] of got.losses.entries()) {
      expect(Math.abs(l - ref.losses[i]), `step ${i}: ${l} vs ${ref.losses[i]}`).toBeLessThan(1e-4);
    }
    expect(new Set(got.tensors.slice(1)).size).toBe(1);
  });
});
