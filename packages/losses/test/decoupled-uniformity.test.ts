import { EventBus, Registry, Rng, type Scalar, type Tensor2D, selectBackend, tf } from '@genview/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { attributeKernel, cosineKernel, decoupledUniformity, plugins, rbfKernel } from '../src/index';
import { decoupledUniformityMetrics, kernelRidgeWeights } from '../src/losses/decoupled-uniformity';
import { type Mat, dot, normalize, numericGrad } from './reference';
import { A, B, caught, expectClose, tfGrad, value, withTensors } from './tensor-helpers';

// Prior features of the 4 samples (e.g. a frozen encoder's output).
const PRIOR: Mat = [
  [0.5, 1.0],
  [0.4, 0.8],
  [-1.0, 0.2],
  [2.0, -0.5],
];

/* ---------------- plain double-precision reference, written from METHODS.md §4 ---------------- */

function refRbf(f: Mat, sigma: number): Mat {
  return f.map((a) => f.map((b) => Math.exp(-a.reduce((s, v, k) => s + (v - b[k]) ** 2, 0) / (2 * sigma * sigma))));
}

/** (K + λI)⁻¹ K through a Cholesky factorisation (a different algorithm from the library's Gauss-Jordan). */
function refAlpha(k: Mat, lambda: number): Mat {
  const n = k.length;
  const l: Mat = k.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = k[i][j] + (i === j ? lambda : 0);
      for (let p = 0; p < j; p++) s -= l[i][p] * l[j][p];
      l[i][j] = i === j ? Math.sqrt(s) : s / l[j][j];
    }
  }
  const out: Mat = k.map(() => new Array<number>(n).fill(0));
  for (let c = 0; c < n; c++) {
    const y = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) y[i] = (k[i][c] - l[i].slice(0, i).reduce((s, v, p) => s + v * y[p], 0)) / l[i][i];
    for (let i = n - 1; i >= 0; i--) {
      let s = y[i];
      for (let p = i + 1; p < n; p++) s -= l[p][i] * out[p][c];
      out[i][c] = s / l[i][i];
    }
  }
  return out;
}

function refCentroids(views: Mat[], kernel?: Mat, lambda?: number): Mat {
  const zs = views.map(normalize);
  const n = views[0].length;
  const mean = zs[0].map((row, i) => row.map((_, d) => zs.reduce((s, z) => s + z[i][d], 0) / zs.length));
  if (!kernel) return mean;
  const alpha = refAlpha(kernel, lambda ?? 1 / Math.sqrt(n));
  return alpha.map((row) => mean[0].map((_, d) => row.reduce((s, a, j) => s + a * mean[j][d], 0)));
}

function refLoss(views: Mat[], t: number, kernel?: Mat, lambda?: number): number {
  const mu = refCentroids(views, kernel, lambda);
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < mu.length; i++) {
    for (let j = i + 1; j < mu.length; j++) {
      sum += Math.exp(-t * mu[i].reduce((s, v, d) => s + (v - mu[j][d]) ** 2, 0));
      pairs++;
    }
  }
  return Math.log(sum / pairs);
}

/* ------------------------------------------------ helpers ------------------------------------------------ */

beforeAll(async () => {
  // Finite-difference checks want the reference JS kernels: deterministic float32, every gradient registered.
  await selectBackend({ force: 'cpu' });
});

describe('decoupledUniformity', () => {
  it('matches a hand computation on a 4-sample, 2-view batch', () => {
    // Written out for the first pair so the reference itself is checked: μ_0 = (ẑa_0 + ẑb_0)/2 ...
    const [za, zb] = [normalize(A), normalize(B)];
    const mu = za.map((r, i) => r.map((v, d) => (v + zb[i][d]) / 2));
    const sq = (i: number, j: number) => dot(mu[i], mu[i]) + dot(mu[j], mu[j]) - 2 * dot(mu[i], mu[j]);
    const pairs = [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]];
    const hand = Math.log(pairs.reduce((s, [i, j]) => s + Math.exp(-2 * sq(i, j)), 0) / 6);
    expect(refLoss([A, B], 2)).toBeCloseTo(hand, 12);
    for (const t of [2, 1, 0.5]) {
      expect(withTensors([A, B], (a, b) => value(() => decoupledUniformity([a, b], { t })))).toBeCloseTo(refLoss([A, B], t), 5);
    }
  });

  it('has the closed-form values of two extreme configurations', () => {
    // Orthonormal, perfectly aligned views: ‖μ_i − μ_j‖² = 2, so the loss is −2t.
    const eye = [[1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 3, 0], [0, 0, 0, 4]];
    expect(withTensors([eye, eye], (a, b) => value(() => decoupledUniformity([a, b])))).toBeCloseTo(-4, 5);
    // Opposite views: every centroid is 0, the potential is exp(0) everywhere, the loss is log 1 = 0.
    const neg = eye.map((r) => r.map((v) => -v));
    expect(withTensors([eye, neg], (a, b) => value(() => decoupledUniformity([a, b])))).toBeCloseTo(0, 6);
  });

  it('takes more than two views (centroid = mean of V views)', () => {
    const C = A.map((r) => r.map((v, d) => v * (d + 1) - 0.3));
    expect(withTensors([A, B, C], (a, b, c) => value(() => decoupledUniformity([a, b, c])))).toBeCloseTo(refLoss([A, B, C], 2), 5);
  });

  it('with a prior kernel matches the conditional-mean-embedding reference (given λ and 1/√N)', () => {
    const k = refRbf(PRIOR, 0.7);
    withTensors([A, B, k], (a, b, kt) => {
      expect(value(() => decoupledUniformity([a, b], { kernel: kt, lambda: 0.01 }))).toBeCloseTo(refLoss([A, B], 2, k, 0.01), 4);
      expect(value(() => decoupledUniformity([a, b], { kernel: kt }))).toBeCloseTo(refLoss([A, B], 2, k, 0.5), 5);
      const m = decoupledUniformityMetrics([a, b], { kernel: kt, lambda: 0.1 });
      const mu = refCentroids([A, B], k, 0.1);
      expect(m.alignment).toBeCloseTo(-mu.reduce((s, r) => s + dot(r, r), 0) / 4, 5);
      expect(m.uniformity).toBeCloseTo(refLoss([A, B], 2, k, 0.1), 5);
    });
  });

  it('with K = I and λ → 0 equals the plain centroid version', () => {
    withTensors([A, B], (a, b) => {
      const plain = value(() => decoupledUniformity([a, b]));
      const eye = tf.eye(4) as Tensor2D;
      // α = (1 + λ)⁻¹ I: the loss moves by O(λ).
      expect(value(() => decoupledUniformity([a, b], { kernel: eye, lambda: 1e-7 }))).toBeCloseTo(plain, 5);
      expect(Math.abs(value(() => decoupledUniformity([a, b], { kernel: eye, lambda: 0.5 })) - plain)).toBeGreaterThan(1e-3);
      eye.dispose();
    });
  });

  it('gradients match central finite differences, with and without a prior', () => {
    const gradA = tfGrad((x) => withTensors([B], (b) => decoupledUniformity([x, b], { t: 2 })), A);
    expectClose(gradA, numericGrad((x) => refLoss([x, B], 2), A), 1e-3);
    const k = refRbf(PRIOR, 0.7);
    const gradB = tfGrad((x) => withTensors([A, k], (a, kt) => decoupledUniformity([a, x], { kernel: kt, lambda: 0.05 })), B);
    expectClose(gradB, numericGrad((x) => refLoss([A, x], 2, k, 0.05), B), 1e-3);
  });

  it('no gradient reaches the kernel (α is detached)', () => {
    const k = refRbf(PRIOR, 0.7);
    // The 0·sum(K) term only connects K to the output (tf.grad refuses an unconnected input); any
    // non-zero entry would have to come from the loss itself.
    const g = tfGrad(
      (kt) => withTensors([A, B], (a, b) => tf.add(decoupledUniformity([a, b], { kernel: kt, lambda: 0.05 }), tf.mul(tf.sum(kt), 0)) as Scalar),
      k,
    );
    expect(g.flat().every((v) => v === 0)).toBe(true);
  });

  it('throws clear errors on bad shapes, kernel size and options', () => {
    withTensors([A, B, [[1, 2, 3]], [[1, 2], [3, 4], [5, 6], [7, 8]]], (a, b, short, narrow) => {
      let e = caught(() => decoupledUniformity([a]));
      expect(e.code).toBe('BAD_INPUT');
      expect(e.message).toMatch(/views must hold two or more/);
      e = caught(() => decoupledUniformity([a, short]));
      expect(e.code).toBe('BAD_SHAPE');
      expect(e.message).toMatch(/views\[1\]/);
      e = caught(() => decoupledUniformity([a, narrow]));
      expect(e.message).toMatch(/views\[1\] dim 1 \(D\)/);
      e = caught(() => decoupledUniformity([short, short]));
      expect(e.message).toMatch(/N ≥ 2/);
      const k3 = tf.eye(3) as Tensor2D;
      e = caught(() => decoupledUniformity([a, b], { kernel: k3 }));
      expect(e.code).toBe('BAD_SHAPE');
      expect(e.message).toMatch(/kernel is \[3,3\].*N = 4/);
      const rect = tf.ones([4, 3]) as Tensor2D;
      e = caught(() => decoupledUniformity([a, b], { kernel: rect }));
      expect(e.message).toMatch(/kernel/);
      const k4 = tf.eye(4) as Tensor2D;
      e = caught(() => decoupledUniformity([a, b], { kernel: k4, lambda: 0 }));
      expect(e.message).toMatch(/lambda must be a positive/);
      e = caught(() => decoupledUniformity([a, b], { t: -1 }));
      expect(e.message).toMatch(/t must be a positive/);
      // K = −I with λ = 1 is singular: reported, not NaN.
      const negEye = tf.neg(k4) as Tensor2D;
      e = caught(() => decoupledUniformity([a, b], { kernel: negEye, lambda: 1 }));
      expect(e.message).toMatch(/singular/);
      for (const t of [k3, rect, k4, negEye]) t.dispose();
    });
  });
});

describe('kernelRidgeWeights', () => {
  it('solves (K + λI) α = K (checked by multiplying back) for an indefinite but non-singular K', () => {
    const k = [[0, 2, 1], [2, 0.5, -1], [1, -1, 3]];
    const lambda = 0.3;
    const alpha = kernelRidgeWeights(k.flat(), 3, lambda);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let p = 0; p < 3; p++) s += (k[i][p] + (i === p ? lambda : 0)) * alpha[p * 3 + j];
        expect(s).toBeCloseTo(k[i][j], 10);
      }
    }
  });
});

describe('prior kernels', () => {
  it('rbf, cosine and attributes match hand computations', () => {
    withTensors([PRIOR], (f) => {
      const rbf = rbfKernel(f, 0.7);
      expectClose(rbf.arraySync() as Mat, refRbf(PRIOR, 0.7), 1e-5);
      const cos = cosineKernel(f);
      const unit = normalize(PRIOR);
      expectClose(cos.arraySync() as Mat, unit.map((a) => unit.map((b) => dot(a, b))), 1e-5);
      tf.dispose([rbf, cos]);
    });
    // Columns: fine label, coarse group. Samples 0 and 1 share the group only; 0 and 2 share nothing.
    const attrs = [[0, 1], [2, 1], [5, 0], [0, 1]];
    withTensors([attrs], (f) => {
      const k = attributeKernel(f);
      expect(k.arraySync()).toEqual([
        [1, 0.5, 0, 1],
        [0.5, 1, 0, 0.5],
        [0, 0, 1, 0],
        [1, 0.5, 0, 1],
      ]);
      const weighted = attributeKernel(f, { weights: [1, 3] });
      expect((weighted.arraySync() as Mat)[0][1]).toBeCloseTo(0.75, 6);
      const asRbf = attributeKernel(f, { mode: 'rbf', sigma: 2 });
      expectClose(asRbf.arraySync() as Mat, refRbf(attrs, 2), 1e-5);
      tf.dispose([k, weighted, asRbf]);
      expect(caught(() => attributeKernel(f, { weights: [1] })).message).toMatch(/weights has 1 entries/);
    });
  });
});

describe('decoupled-uniformity and kernel plugins', () => {
  const registry = new Registry().register(plugins);
  const ctx = { rng: new Rng(0), events: new EventBus() };

  it('are registered by name, compute() reads views and the optional kernel', async () => {
    expect(registry.list('kernel').map((p) => p.name)).toEqual(['attributes', 'cosine', 'rbf']);
    const loss = await registry.create('loss', { name: 'decoupled-uniformity', lambda: 0.01 }, ctx);
    expect(loss.crossProcess).toEqual({ kind: 'all-gather-negatives', gradientScale: 'world-size' });
    const rbf = await registry.create('kernel', { name: 'rbf', sigma: 0.7 }, ctx);
    withTensors([A, B, PRIOR], (a, b, f) => {
      expect(value(() => loss.compute({ views: [a, b] }))).toBeCloseTo(refLoss([A, B], 2), 5);
      const k = rbf.matrix(f);
      expect(value(() => loss.compute({ views: [a, b], kernel: k }))).toBeCloseTo(refLoss([A, B], 2, refRbf(PRIOR, 0.7), 0.01), 4);
      const metrics = loss.metrics?.({ views: [a, b] });
      const mu = refCentroids([A, B]);
      expect(metrics?.alignment).toBeCloseTo(-mu.reduce((s, r) => s + dot(r, r), 0) / 4, 5);
      k.dispose();
    });
  });

  it('does not leak tensors across forward, backward and metrics', async () => {
    const loss = await registry.create('loss', 'decoupled-uniformity', ctx);
    const kernels = await Promise.all(['rbf', 'cosine', 'attributes'].map((name) => registry.create('kernel', name, ctx)));
    withTensors([A, B, PRIOR], (a, b, f) => {
      const step = () => {
        for (const kernel of kernels) {
          const k = kernel.matrix(f);
          value(() => loss.compute({ views: [a, b], kernel: k }));
          const g = tf.tidy(() => tf.grad((x: tf.Tensor) => loss.compute({ views: [x as Tensor2D, b], kernel: k }))(a));
          g.dispose();
          loss.metrics?.({ views: [a, b], kernel: k });
          k.dispose();
        }
      };
      step();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) step();
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
