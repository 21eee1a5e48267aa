import { BATCH_NORM_TRAINING_KERNEL, Rng, batchNormTraining, tf } from '@genview/core';
import { beforeAll, describe, expect, it } from 'vitest';

/** Training-mode batch norm differentiated op by op: the reference the closed-form gradient must match. */
function byMoments(x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, eps: number): tf.Tensor {
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), scale), offset);
}

function random(rng: Rng, shape: number[], shift = 0): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => rng.normal() * (0.5 + rng.float()) + shift), shape);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

describe('batchNormTraining', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('needs no fused kernel: the cpu backend has none, so the op composes tfjs ops', () => {
    expect(tf.getKernel(BATCH_NORM_TRAINING_KERNEL, 'cpu')).toBeUndefined();
  });

  it('matches moments-based normalisation and its autodiff gradients in x, scale and offset', () => {
    const rng = new Rng(3);
    for (const shape of [[6, 5], [4, 3, 5, 7], [2, 9, 1], [3, 1, 1, 16]]) {
      const c = shape[shape.length - 1] as number;
      tf.tidy(() => {
        const x = random(rng, shape, 2);
        const scale = random(rng, [c]);
        const offset = random(rng, [c]);
        const weight = random(rng, shape);
        const eps = 1e-3;
        const lossOf = (f: (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
          tf.sum(tf.mul(tf.sin(f(a, s, o)), weight));
        const fused = (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => batchNormTraining(a, s as tf.Tensor1D, o as tf.Tensor1D, { varianceEpsilon: eps });
        const reference = (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => byMoments(a, s, o, eps);
        expect(maxAbsDiff(fused(x, scale, offset), reference(x, scale, offset)), `y ${shape}`).toBeLessThan(1e-5);
        const got = tf.grads(lossOf(fused))([x, scale, offset]);
        const want = tf.grads(lossOf(reference))([x, scale, offset]);
        for (const [i, name] of ['dx', 'dscale', 'doffset'].entries()) {
          const tol = 1e-4 * Math.max(1, tf.max(tf.abs(want[i] as tf.Tensor)).dataSync()[0] as number);
          expect(maxAbsDiff(got[i] as tf.Tensor, want[i] as tf.Tensor), `${name} ${shape}`).toBeLessThan(tol);
        }
      });
    }
  });

  it("activation 'relu' equals ReLU after the op, values and gradients, without the fused kernels", () => {
    const rng = new Rng(4);
    for (const shape of [[6, 5], [4, 3, 5, 7]]) {
      const c = shape[shape.length - 1] as number;
      tf.tidy(() => {
        const x = random(rng, shape);
        const scale = random(rng, [c]);
        const offset = random(rng, [c]);
        const weight = random(rng, shape);
        const options = { varianceEpsilon: 1e-3 };
        const lossOf = (f: (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
          tf.sum(tf.mul(tf.sin(f(a, s, o)), weight));
        const fused = (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => batchNormTraining(a, s as tf.Tensor1D, o as tf.Tensor1D, { ...options, activation: 'relu' });
        const composed = (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => tf.relu(batchNormTraining(a, s as tf.Tensor1D, o as tf.Tensor1D, options));
        const y = fused(x, scale, offset);
        expect(y.dataSync().filter((v) => v === 0).length, 'the ReLU clamps').toBeGreaterThan(0);
        expect(maxAbsDiff(y, composed(x, scale, offset)), `y ${shape}`).toBe(0);
        const got = tf.grads(lossOf(fused))([x, scale, offset]);
        const want = tf.grads(lossOf(composed))([x, scale, offset]);
        for (const [i, name] of ['dx', 'dscale', 'doffset'].entries()) {
          expect(maxAbsDiff(got[i] as tf.Tensor, want[i] as tf.Tensor), `${name} ${shape}`).toBeLessThan(1e-5);
        }
      });
    }
  });

  it('names the wrong shape and the fix', () => {
    const x = tf.zeros([4, 3]);
    expect(() => batchNormTraining(x, tf.ones([2]), tf.zeros([3]), { varianceEpsilon: 1e-5 })).toThrow(/needs scale of shape \[3\], got \[2\]/);
    expect(() => batchNormTraining(tf.zeros([4]), tf.ones([4]), tf.zeros([4]), { varianceEpsilon: 1e-5 })).toThrow(/at least 2 axes, got \[4\]/);
  });

  it('shows the batch mean and biased variance to onStatistics and leaves no tensor behind', () => {
    const rng = new Rng(4);
    const x = random(rng, [5, 4, 3]);
    const scale = tf.ones([3]) as tf.Tensor1D;
    const offset = tf.zeros([3]) as tf.Tensor1D;
    const seen: number[][] = [];
    const before = tf.memory().numTensors;
    const grads = tf.grads((a: tf.Tensor) =>
      tf.sum(
        tf.square(
          batchNormTraining(a, scale, offset, {
            varianceEpsilon: 1e-5,
            onStatistics: (mean, variance) => seen.push(Array.from(mean.dataSync()), Array.from(variance.dataSync())),
          }),
        ),
      ),
    )([x]);
    tf.dispose(grads);
    expect(tf.memory().numTensors).toBe(before);
    const { mean, variance } = tf.moments(x, [0, 1]);
    expect(seen).toHaveLength(2);
    for (const [i, want] of [mean, variance].entries()) {
      const got = seen[i] as number[];
      for (const [j, v] of Array.from(want.dataSync()).entries()) expect(got[j]).toBeCloseTo(v, 5);
    }
    tf.dispose([x, scale, offset, mean, variance]);
  });
});
