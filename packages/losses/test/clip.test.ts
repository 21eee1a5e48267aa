import { EventBus, Registry, Rng, type Scalar, type Tensor2D, selectBackend, tf } from '@genview/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { clipLoss, infoNce, plugins } from '../src/index';
import { type Mat, numericGrad, refClip } from './reference';
import { A, B, caught, t2, value } from './tensor-helpers';

// Image and text embeddings of 4 pairs, 3 dims, no symmetry (the batch the other loss tests use).
const [IMAGES, TEXTS] = [A, B];
const SAME_LABEL: Mat = [
  [1, 1, 0, 0],
  [1, 1, 0, 0],
  [0, 0, 1, 1],
  [0, 0, 1, 1],
];
const W = [0.5, 1.5, 0.8, 1.2];

const withPair = <T>(f: (images: Tensor2D, texts: Tensor2D) => T): T => {
  const [a, b] = [t2(IMAGES), t2(TEXTS)];
  try {
    return f(a, b);
  } finally {
    tf.dispose([a, b]);
  }
};
beforeAll(async () => {
  // Exact float32 reference kernels for value and gradient checks.
  await selectBackend({ force: 'cpu' });
});

describe('clipLoss', () => {
  it('is log(1 + e^{−s}) by hand for two orthogonal matched pairs, whatever their norms', () => {
    // cos = I, so every row and column is softmax over (s, 0) with the positive at s.
    for (const s of [1, 2.5]) {
      const got = value(() => clipLoss([t2([[2, 0], [0, 0.5]]), t2([[3, 0], [0, 1]])], { logitScale: tf.scalar(s) }));
      expect(got).toBeCloseTo(Math.log(1 + Math.exp(-s)), 6);
    }
    // Default temperature 0.07: the positive dominates, the loss is log(1 + e^{−1/0.07}) ≈ 6.2e-7.
    expect(value(() => clipLoss([t2([[1, 0], [0, 1]]), t2([[1, 0], [0, 1]])]))).toBeCloseTo(Math.log1p(Math.exp(-1 / 0.07)), 5);
  });

  it('matches the double-precision reference on a 4x3 batch, by temperature and by logit scale', () => {
    withPair((a, b) => {
      expect(value(() => clipLoss([a, b]))).toBeCloseTo(refClip(IMAGES, TEXTS, 1 / 0.07), 4);
      expect(value(() => clipLoss([a, b], { temperature: 0.5 }))).toBeCloseTo(refClip(IMAGES, TEXTS, 2), 5);
      // A given logit scale wins over the temperature.
      expect(value(() => clipLoss([a, b], { temperature: 0.5, logitScale: tf.scalar(3.7) }))).toBeCloseTo(refClip(IMAGES, TEXTS, 3.7), 5);
      // It is the symmetric InfoNCE at T = 1/s, computed independently.
      expect(value(() => clipLoss([a, b], { logitScale: tf.scalar(5) }))).toBeCloseTo(value(() => infoNce([a, b], { symmetric: true, temperature: 0.2 })), 5);
    });
  });

  it('rows and columns differ: swapping images and texts keeps the loss, a one-direction loss would not', () => {
    withPair((a, b) => {
      expect(value(() => clipLoss([b, a], { logitScale: tf.scalar(4) }))).toBeCloseTo(value(() => clipLoss([a, b], { logitScale: tf.scalar(4) })), 5);
      expect(Math.abs(value(() => infoNce([a, b], { temperature: 0.25 })) - value(() => infoNce([b, a], { temperature: 0.25 })))).toBeGreaterThan(1e-3);
    });
  });

  it('equal weights give exactly the unweighted loss; other weights scale both terms of their pair', () => {
    withPair((a, b) => {
      const s = () => tf.scalar(4);
      expect(value(() => clipLoss([a, b], { weights: tf.ones([4]) }))).toBe(value(() => clipLoss([a, b])));
      expect(value(() => clipLoss([a, b], { weights: tf.ones([4]), logitScale: s() }))).toBe(value(() => clipLoss([a, b], { logitScale: s() })));
      expect(value(() => clipLoss([a, b], { weights: tf.tensor1d(W), logitScale: s() }))).toBeCloseTo(refClip(IMAGES, TEXTS, 4, W), 5);
      // Weight 4 on pair 0 only isolates that pair's (row 0 + column 0) / 2 terms.
      const z = IMAGES.map((r) => r.map((v) => v / Math.hypot(...r)));
      const t = TEXTS.map((r) => r.map((v) => v / Math.hypot(...r)));
      const c = (i: number, j: number) => 4 * z[i].reduce((acc, v, d) => acc + v * t[j][d], 0);
      const row0 = Math.log([0, 1, 2, 3].reduce((acc, j) => acc + Math.exp(c(0, j)), 0)) - c(0, 0);
      const col0 = Math.log([0, 1, 2, 3].reduce((acc, i) => acc + Math.exp(c(i, 0)), 0)) - c(0, 0);
      expect(value(() => clipLoss([a, b], { weights: tf.tensor1d([4, 0, 0, 0]), logitScale: s() }))).toBeCloseTo((row0 + col0) / 2, 5);
    });
  });

  it('a negatives mask drops candidates in both directions; all ones changes nothing', () => {
    withPair((a, b) => {
      const s = () => tf.scalar(3);
      expect(value(() => clipLoss([a, b], { negativeMask: tf.ones([4, 4]), logitScale: s() }))).toBe(value(() => clipLoss([a, b], { logitScale: s() })));
      expect(value(() => clipLoss([a, b], { negativeMask: t2(SAME_LABEL), weights: tf.tensor1d(W), logitScale: s() }))).toBeCloseTo(
        refClip(IMAGES, TEXTS, 3, W, SAME_LABEL),
        5,
      );
      expect(value(() => clipLoss([a, b], { negativeMask: tf.zeros([4, 4]) }))).toBeCloseTo(0, 6);
    });
  });

  it('gradient with respect to the logit scale matches finite differences', () => {
    for (const [s, weights] of [[1, undefined], [4, W], [14.3, W]] as const) {
      const analytic = withPair((a, b) => {
        const g = tf.tidy(() => tf.grad((scale: tf.Tensor) => clipLoss([a, b], { logitScale: scale as Scalar, weights: weights && tf.tensor1d([...weights]) }))(tf.scalar(s)));
        const out = g.dataSync()[0];
        g.dispose();
        return out;
      });
      const h = 1e-5;
      const numeric = (refClip(IMAGES, TEXTS, s + h, weights && [...weights]) - refClip(IMAGES, TEXTS, s - h, weights && [...weights])) / (2 * h);
      expect(Math.abs(numeric)).toBeGreaterThan(1e-4);
      expect(Math.abs(analytic - numeric)).toBeLessThan(1e-4 * Math.max(1, Math.abs(numeric)));
    }
  });

  it('gradients with respect to both towers match finite differences', () => {
    const gradOf = (f: (x: Tensor2D) => Scalar, x: Mat): Mat => {
      const g = tf.tidy(() => tf.grad((v: tf.Tensor) => f(v as Tensor2D))(t2(x)));
      const out = g.arraySync() as Mat;
      g.dispose();
      return out;
    };
    const close = (got: Mat, want: Mat) => {
      for (const [i, row] of got.entries()) for (const [j, v] of row.entries()) expect(Math.abs(v - want[i][j])).toBeLessThan(1e-3 * Math.max(1, Math.abs(want[i][j])));
    };
    const opts = () => ({ logitScale: tf.scalar(3), weights: tf.tensor1d(W), negativeMask: t2(SAME_LABEL) });
    const gImages = gradOf((x) => withPair((_, b) => clipLoss([x, b], opts())), IMAGES);
    close(gImages, numericGrad((x) => refClip(x, TEXTS, 3, W, SAME_LABEL), IMAGES));
    const gTexts = gradOf((x) => withPair((a) => clipLoss([a, x], opts())), TEXTS);
    close(gTexts, numericGrad((x) => refClip(IMAGES, x, 3, W, SAME_LABEL), TEXTS));
  });
});

describe('clip plugin', () => {
  const registry = new Registry().register(plugins);
  const ctx = { rng: new Rng(0), events: new EventBus() };

  it('reads logitScale, weights and the mask from the loss inputs and reports the scale', async () => {
    const loss = await registry.create('loss', 'clip', ctx);
    const fixed = await registry.create('loss', { name: 'clip', temperature: 0.25 }, ctx);
    expect(loss.crossProcess).toEqual({ kind: 'all-gather-negatives', gradientScale: 'world-size' });
    withPair((a, b) => {
      const logitScale = tf.scalar(6);
      const weights = tf.tensor1d(W);
      expect(value(() => loss.compute({ views: [a, b] }))).toBeCloseTo(refClip(IMAGES, TEXTS, 1 / 0.07), 4);
      expect(value(() => fixed.compute({ views: [a, b] }))).toBeCloseTo(refClip(IMAGES, TEXTS, 4), 5);
      expect(value(() => fixed.compute({ views: [a, b], logitScale, weights }))).toBeCloseTo(refClip(IMAGES, TEXTS, 6, W), 5);
      expect(fixed.metrics?.({ views: [a, b] }).logit_scale).toBe(4);
      expect(fixed.metrics?.({ views: [a, b], logitScale }).logit_scale).toBe(6);
      tf.dispose([logitScale, weights]);
    });
  });

  it('throws clear errors naming the field', async () => {
    const loss = await registry.create('loss', 'clip', ctx);
    withPair((a, b) => {
      let e = caught(() => loss.compute({ views: [a] }));
      expect(e.code).toBe('BAD_INPUT');
      expect(e.message).toMatch(/views must hold exactly 2/);
      expect(e.fix).toMatch(/image embeddings as views\[0\] and text embeddings as views\[1\]/);
      e = caught(() => loss.compute({ views: [a, tf.ones([3, 3]) as Tensor2D] }));
      expect(e.message).toMatch(/views\[1\] \(texts\) dim 0 \(N\) is 3 but N was 4/);
      e = caught(() => loss.compute({ views: [a, b], logitScale: tf.ones([1]) as unknown as Scalar }));
      expect(e.code).toBe('BAD_SHAPE');
      expect(e.message).toMatch(/logitScale must be a scalar, got shape \[1\]/);
      e = caught(() => loss.compute({ views: [a, b], weights: tf.ones([3]) as tf.Tensor1D }));
      expect(e.message).toMatch(/weights/);
    });
    await expect(registry.create('loss', { name: 'clip', temperature: 0 }, ctx)).rejects.toThrow(/temperature/);
  });

  it('does not leak tensors across forward and backward passes', async () => {
    const loss = await registry.create('loss', 'clip', ctx);
    withPair((a, b) => {
      const weights = tf.tensor1d(W);
      const logScale = tf.variable(tf.scalar(Math.log(1 / 0.07)));
      const step = () => {
        const { value: v, grads } = tf.variableGrads(() => loss.compute({ views: [a, b], weights, logitScale: tf.exp(logScale) as Scalar }), [logScale]);
        tf.dispose([v, ...Object.values(grads)]);
        const g = tf.tidy(() => tf.grad((x: tf.Tensor) => loss.compute({ views: [a, x as Tensor2D], weights }))(b));
        g.dispose();
        loss.metrics?.({ views: [a, b] });
      };
      step();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) step();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([weights, logScale]);
    });
  });
});
