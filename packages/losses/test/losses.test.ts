import { EventBus, Registry, Rng, type Tensor2D, selectBackend, tf } from '@genview/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { infoNce, infoNceQueue, negativeCosine, ntXent, plugins } from '../src/index';
import { type Mat, numericGrad, refInfoNce, refNegCos, refNtXent, refQueue } from './reference';
import { A, B, caught, expectClose, t2, tfGrad, value, withTensors } from './tensor-helpers';

const QUEUE: Mat = [
  [0.2, 0.9, -0.4],
  [-0.6, -0.1, 0.7],
  [1.1, -0.3, 0.2],
  [0.0, 0.5, 0.5],
  [-0.4, -0.8, -0.2],
];
// Pseudo labels [0, 0, 1, 1]: negatives only within the same label (MCL's feature-aware negatives).
const SAME_LABEL: Mat = [
  [1, 1, 0, 0],
  [1, 1, 0, 0],
  [0, 0, 1, 1],
  [0, 0, 1, 1],
];

beforeAll(async () => {
  // Gradient checks want the reference JS kernels: deterministic float32, every gradient registered.
  await selectBackend({ force: 'cpu' });
});

describe('ntXent', () => {
  it('matches a double-precision computation on a 4x3 batch', () => {
    for (const t of [0.5, 0.1]) {
      const got = withTensors([A, B], (a, b) => value(() => ntXent([a, b], { temperature: t })));
      expect(got).toBeCloseTo(refNtXent(A, B, t), 5);
    }
  });

  it('is log(2N − 1) when every embedding is the same', () => {
    const same = [1, 2, 3];
    const rows = [same, same, same, same];
    const got = withTensors([rows, rows], (a, b) => value(() => ntXent([a, b])));
    expect(got).toBeCloseTo(Math.log(7), 5);
  });

  it('equal weights give exactly the unweighted loss; weights scale per-pair terms', () => {
    withTensors([A, B], (a, b) => {
      const plain = value(() => ntXent([a, b]));
      const ones = value(() => ntXent([a, b], { weights: tf.ones([4]) }));
      expect(ones).toBe(plain);
      const w = [0.5, 1.5, 0.8, 1.2];
      expect(value(() => ntXent([a, b], { weights: tf.tensor1d(w) }))).toBeCloseTo(refNtXent(A, B, 0.5, w), 5);
    });
  });

  it('a zero weight (others renormalised to mean 1) removes that pair from the average', () => {
    const w = [0, 4 / 3, 4 / 3, 4 / 3];
    const got = withTensors([A, B], (a, b) => value(() => ntXent([a, b], { weights: tf.tensor1d(w) })));
    // Mean over the 6 remaining anchors of their unweighted losses: the reference with weights 1 on
    // pairs 1..3 and 0 on pair 0, rescaled from /8 to /6.
    const remaining = (refNtXent(A, B, 0.5, [0, 1, 1, 1]) * 8) / 6;
    expect(got).toBeCloseTo(remaining, 5);
  });

  it('an all-ones negative mask equals no mask; a label mask matches the hand computation', () => {
    withTensors([A, B], (a, b) => {
      const plain = value(() => ntXent([a, b]));
      expect(value(() => ntXent([a, b], { negativeMask: tf.ones([4, 4]) }))).toBe(plain);
      expect(value(() => ntXent([a, b], { negativeMask: t2(SAME_LABEL) }))).toBeCloseTo(refNtXent(A, B, 0.5, undefined, SAME_LABEL), 5);
      // No negatives at all: each anchor's softmax holds only its positive, so every term is 0.
      expect(value(() => ntXent([a, b], { negativeMask: tf.zeros([4, 4]) }))).toBeCloseTo(0, 6);
    });
  });

  it('hand check of one masked anchor: anchor 0 with labels [0,0,1,1] sees only rows 1, 4, 5', () => {
    const z = [A, B].flatMap((m) => m.map((r) => r.map((v) => v / Math.hypot(...r))));
    const s = (i: number, j: number) => z[i].reduce((acc, v, d) => acc + v * z[j][d], 0) / 0.5;
    // Candidates of anchor 0: sample 1 in both views (rows 1, 5) and its positive (row 4).
    const anchor0 = Math.log(Math.exp(s(0, 1)) + Math.exp(s(0, 4)) + Math.exp(s(0, 5))) - s(0, 4);
    const w = [8, 0, 0, 0]; // mean over 2N = 8 anchors, so weight 8 on pair 0 isolates anchors 0 and 4
    const anchor4 = Math.log(Math.exp(s(4, 0)) + Math.exp(s(4, 1)) + Math.exp(s(4, 5))) - s(4, 0);
    const got = withTensors([A, B], (a, b) => value(() => ntXent([a, b], { negativeMask: t2(SAME_LABEL), weights: tf.tensor1d(w) })));
    expect(got).toBeCloseTo(anchor0 + anchor4, 4);
  });

  it('gradients match central finite differences of the reference', () => {
    const w = [0.5, 1.5, 0.8, 1.2];
    const grad = tfGrad((x) => withTensors([B], (b) => ntXent([x, b], { weights: tf.tensor1d(w), negativeMask: t2(SAME_LABEL) })), A);
    const numeric = numericGrad((x) => refNtXent(x, B, 0.5, w, SAME_LABEL), A);
    expectClose(grad, numeric, 1e-3);
    const gradB = tfGrad((x) => withTensors([A], (a) => ntXent([a, x], { temperature: 0.2 })), B);
    expectClose(gradB, numericGrad((x) => refNtXent(A, x, 0.2), B), 1e-3);
  });
});

describe('infoNce', () => {
  it('matches the reference, one direction and symmetric, with weights and mask', () => {
    withTensors([A, B], (a, b) => {
      expect(value(() => infoNce([a, b]))).toBeCloseTo(refInfoNce(A, B, 0.2), 4);
      expect(value(() => infoNce([a, b], { symmetric: true, temperature: 0.5 }))).toBeCloseTo(refInfoNce(A, B, 0.5, undefined, undefined, true), 5);
      const w = [0.5, 1.5, 0.8, 1.2];
      expect(value(() => infoNce([a, b], { weights: tf.tensor1d(w), negativeMask: t2(SAME_LABEL), symmetric: true }))).toBeCloseTo(
        refInfoNce(A, B, 0.2, w, SAME_LABEL, true),
        4,
      );
      expect(value(() => infoNce([a, b], { weights: tf.ones([4]) }))).toBe(value(() => infoNce([a, b])));
      expect(value(() => infoNce([a, b], { negativeMask: tf.ones([4, 4]) }))).toBe(value(() => infoNce([a, b])));
    });
  });

  it('is log N for identical embeddings', () => {
    const rows = [[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]];
    expect(withTensors([rows, rows], (a, b) => value(() => infoNce([a, b])))).toBeCloseTo(Math.log(4), 5);
  });

  it('gradients match finite differences', () => {
    const grad = tfGrad((x) => withTensors([B], (b) => infoNce([x, b], { symmetric: true, temperature: 0.3 })), A);
    expectClose(grad, numericGrad((x) => refInfoNce(x, B, 0.3, undefined, undefined, true), A), 1e-3);
  });
});

describe('infoNceQueue', () => {
  it('matches the reference and log(1 + Q) for identical embeddings', () => {
    withTensors([A, B, QUEUE], (q, k, queue) => {
      expect(value(() => infoNceQueue(q, k, queue))).toBeCloseTo(refQueue(A, B, QUEUE, 0.2), 4);
      const w = [0.5, 1.5, 0.8, 1.2];
      const mask = [
        [1, 0, 1, 0, 1],
        [0, 0, 0, 0, 0],
        [1, 1, 1, 1, 1],
        [0, 1, 1, 0, 0],
      ];
      expect(value(() => infoNceQueue(q, k, queue, { weights: tf.tensor1d(w), queueNegativeMask: t2(mask), temperature: 0.5 }))).toBeCloseTo(
        refQueue(A, B, QUEUE, 0.5, w, mask),
        5,
      );
      expect(value(() => infoNceQueue(q, k, queue, { weights: tf.ones([4]), queueNegativeMask: tf.ones([4, 5]) }))).toBe(
        value(() => infoNceQueue(q, k, queue)),
      );
    });
    const same = [[0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0]];
    const queue = [...same, [0, 1, 0]];
    expect(withTensors([same, same, queue], (q, k, u) => value(() => infoNceQueue(q, k, u)))).toBeCloseTo(Math.log(6), 5);
  });

  it('an anchor with no allowed queue negative (MCL: no key of its label queued yet) costs exactly 0, with a zero gradient', () => {
    const none = QUEUE.map(() => 0);
    const rowMask = [none, [1, 0, 1, 0, 1], none, [0, 1, 1, 0, 0]];
    withTensors([A, B, QUEUE], (q, k, queue) => {
      // The positive is always kept, so the row's softmax is [1] and its cross-entropy 0, not NaN.
      expect(value(() => infoNceQueue(q, k, queue, { queueNegativeMask: t2(A.map(() => none)) }))).toBe(0);
      // Empty rows add 0 to the mean over all N anchors.
      const oneRow = (i: number) => refQueue([A[i]], [B[i]], QUEUE, 0.2, undefined, [rowMask[i]]);
      expect(value(() => infoNceQueue(q, k, queue, { queueNegativeMask: t2(rowMask) }))).toBeCloseTo((oneRow(1) + oneRow(3)) / 4, 5);
    });
    const grad = tfGrad((x) => withTensors([B, QUEUE], (k, u) => infoNceQueue(x, k, u, { queueNegativeMask: t2(rowMask) })), A);
    for (const i of [0, 2]) expect(grad[i].every((v) => v === 0)).toBe(true);
    expect(grad.flat().every(Number.isFinite)).toBe(true);
    expectClose(grad, numericGrad((x) => refQueue(x, B, QUEUE, 0.2, undefined, rowMask), A), 1e-3);
  });

  it('gradient flows into q only: matches finite differences, zero for k and queue', () => {
    const grad = tfGrad((x) => withTensors([B, QUEUE], (k, u) => infoNceQueue(x, k, u)), A);
    expectClose(grad, numericGrad((x) => refQueue(x, B, QUEUE, 0.2), A), 1e-3);
    const gk = tfGrad((x) => withTensors([A, QUEUE], (q, u) => infoNceQueue(q, x, u)), B);
    const gu = tfGrad((x) => withTensors([A, B], (q, k) => infoNceQueue(q, k, x)), QUEUE);
    expect(gk.flat().every((v) => v === 0)).toBe(true);
    expect(gu.flat().every((v) => v === 0)).toBe(true);
  });
});

describe('negativeCosine', () => {
  it('matches the reference in both forms, −1 / 0 for identical rows, and weights as expected', () => {
    withTensors([A, B], (p, z) => {
      expect(value(() => negativeCosine(p, z))).toBeCloseTo(refNegCos(A, B), 6);
      expect(value(() => negativeCosine(p, z, { form: 'byol' }))).toBeCloseTo(refNegCos(A, B, undefined, 'byol'), 6);
      expect(value(() => negativeCosine(p, p))).toBeCloseTo(-1, 6);
      expect(value(() => negativeCosine(p, p, { form: 'byol' }))).toBeCloseTo(0, 6);
      expect(value(() => negativeCosine(p, z, { weights: tf.ones([4]) }))).toBe(value(() => negativeCosine(p, z)));
      const w = [0, 2, 1, 1];
      expect(value(() => negativeCosine(p, z, { weights: tf.tensor1d(w) }))).toBeCloseTo(refNegCos(A, B, w), 6);
    });
  });

  it('gradient matches finite differences for p and is zero for the stop-gradient target', () => {
    const grad = tfGrad((x) => withTensors([B], (z) => negativeCosine(x, z, { form: 'byol' })), A);
    expectClose(grad, numericGrad((x) => refNegCos(x, B, undefined, 'byol'), A), 1e-3);
    const gz = tfGrad((x) => withTensors([A], (p) => negativeCosine(p, x)), B);
    expect(gz.flat().every((v) => v === 0)).toBe(true);
  });
});

describe('plugins', () => {
  const registry = new Registry().register(plugins);
  const ctx = { rng: new Rng(0), events: new EventBus() };

  it('registers every loss with its cross-process reduction', async () => {
    expect(registry.list('loss').map((p) => p.name)).toEqual(['clip', 'decoupled-uniformity', 'info-nce', 'moco-queue', 'negative-cosine', 'nt-xent']);
    expect((await registry.create('loss', 'nt-xent', ctx)).crossProcess).toEqual({ kind: 'all-gather-negatives', gradientScale: 'world-size' });
    expect((await registry.create('loss', 'moco-queue', ctx)).crossProcess).toEqual({ kind: 'local' });
    expect((await registry.create('loss', 'negative-cosine', ctx)).crossProcess).toEqual({ kind: 'local' });
  });

  it('compute() agrees with the functions and the documented conventions', async () => {
    const nt = await registry.create('loss', { name: 'nt-xent', temperature: 0.1 }, ctx);
    const moco = await registry.create('loss', 'moco-queue', ctx);
    const mocoSym = await registry.create('loss', { name: 'moco-queue', symmetric: true }, ctx);
    const simsiam = await registry.create('loss', { name: 'negative-cosine', targetsFrom: 'views' }, ctx);
    const byol = await registry.create('loss', { name: 'negative-cosine', form: 'byol' }, ctx);
    withTensors([A, B, QUEUE], (a, b, queue) => {
      expect(value(() => nt.compute({ views: [a, b] }))).toBeCloseTo(refNtXent(A, B, 0.1), 4);
      expect(nt.metrics?.({ views: [a, b] }).pos_cos).toBeCloseTo(
        A.reduce((s, r, i) => s + r.reduce((d, v, j) => d + v * B[i][j], 0) / (Math.hypot(...r) * Math.hypot(...B[i])), 0) / 4,
        5,
      );
      // MoCo v2: q of view 0 against the key of view 1.
      expect(value(() => moco.compute({ views: [a, b], targets: [a, b], queue }))).toBeCloseTo(refQueue(A, B, QUEUE, 0.2), 4);
      expect(value(() => moco.compute({ views: [a], targets: [b], queue }))).toBeCloseTo(refQueue(A, B, QUEUE, 0.2), 4);
      // Symmetric: q1·k2 + q2·k1, summed.
      expect(value(() => mocoSym.compute({ views: [a, b], targets: [b, a], queue }))).toBeCloseTo(
        refQueue(A, A, QUEUE, 0.2) + refQueue(B, B, QUEUE, 0.2),
        4,
      );
      expect(value(() => simsiam.compute({ views: [a, b], predictions: [b, a] }))).toBeCloseTo(-1, 5);
      expect(value(() => byol.compute({ views: [a, b], predictions: [a, b], targets: [b, a] }))).toBeCloseTo(
        refNegCos(A, A, undefined, 'byol') / 2 + refNegCos(B, B, undefined, 'byol') / 2,
        5,
      );
      expect(value(() => byol.compute({ views: [a, b], predictions: [a, b], targets: [a, b] }))).toBeCloseTo(refNegCos(A, B, undefined, 'byol'), 5);
    });
  });

  it('throws clear errors naming the field on missing inputs and bad shapes', async () => {
    const nt = await registry.create('loss', 'nt-xent', ctx);
    const moco = await registry.create('loss', 'moco-queue', ctx);
    const byol = await registry.create('loss', 'negative-cosine', ctx);
    withTensors([A, B, [[1, 2, 3]], [[1, 2], [3, 4], [5, 6], [7, 8]]], (a, b, short, narrow) => {
      let e = caught(() => nt.compute({ views: [a, short] }));
      expect(e.code).toBe('BAD_SHAPE');
      expect(e.message).toMatch(/views\[1\].*\[N, D\]/);
      e = caught(() => nt.compute({ views: [a, narrow] }));
      expect(e.message).toMatch(/views\[1\] dim 1 \(D\) is 2 but D was 3/);
      e = caught(() => nt.compute({ views: [a] }));
      expect(e.code).toBe('BAD_INPUT');
      expect(e.message).toMatch(/views must hold exactly 2/);
      e = caught(() => nt.compute({ views: [a, b], weights: tf.ones([3]) as tf.Tensor1D }));
      expect(e.message).toMatch(/weights/);
      e = caught(() => nt.compute({ views: [a, b], negativeMask: tf.ones([4, 3]) as Tensor2D }));
      expect(e.message).toMatch(/negativeMask/);
      e = caught(() => moco.compute({ views: [a, b], targets: [a, b] }));
      expect(e.code).toBe('BAD_INPUT');
      expect(e.message).toMatch(/queue is missing; expected .*\[Q, D\]/);
      e = caught(() => moco.compute({ views: [a, b], queue: a }));
      expect(e.message).toMatch(/targets is missing/);
      e = caught(() => moco.compute({ views: [a], targets: [b], queue: narrow }));
      expect(e.code).toBe('BAD_SHAPE');
      expect(e.message).toMatch(/queue/);
      e = caught(() => byol.compute({ views: [a, b], predictions: [a, b] }));
      expect(e.message).toMatch(/targets is missing/);
      e = caught(() => byol.compute({ views: [a, b], predictions: [a, b], targets: [a, short] }));
      expect(e.message).toMatch(/targets\[1\]/);
    });
  });

  it('does not leak tensors across forward and backward passes', async () => {
    const losses = await Promise.all(
      (['nt-xent', 'info-nce', 'moco-queue', 'negative-cosine'] as const).map((name) => registry.create('loss', name, ctx)),
    );
    withTensors([A, B, QUEUE], (a, b, queue) => {
      const weights = tf.tensor1d([0.5, 1.5, 0.8, 1.2]);
      const mask = t2(SAME_LABEL);
      const step = () => {
        for (const loss of losses) {
          const inputs = { views: [a, b], targets: [b, a], predictions: [a, b], queue, weights, negativeMask: mask };
          value(() => loss.compute(inputs));
          const g = tf.tidy(() => tf.grad((x: tf.Tensor) => loss.compute({ ...inputs, views: [x as Tensor2D, b], predictions: [x as Tensor2D, b] }))(a));
          g.dispose();
          loss.metrics?.(inputs);
        }
      };
      step();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) step();
      expect(tf.memory().numTensors).toBe(before);
      weights.dispose();
      mask.dispose();
    });
  });
});
