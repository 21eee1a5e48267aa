import { type Tensor2D, currentBackend, tf } from '@genview/core';
import { describe, expect, it } from 'vitest';
import { infoNce, infoNceQueue, negativeCosine, ntXent } from '../src/index';
import { refInfoNce, refNegCos, refNtXent, refQueue } from './reference';

// The same losses on whatever backend the ladder picks (wasm on a bare machine): every kernel and
// gradient they use must exist there too, not only on the cpu backend the exact tests force.
const A = [
  [1.0, 0.2, -0.5],
  [0.3, -1.2, 0.8],
  [-0.7, 0.4, 1.1],
  [0.9, 1.3, 0.1],
];
const B = [
  [0.8, 0.5, -0.2],
  [0.1, -0.9, 1.2],
  [-1.0, 0.2, 0.6],
  [0.4, 1.1, -0.3],
];

describe(`losses on the ladder's backend`, () => {
  it('forward values and gradients exist and agree with the reference', () => {
    expect(currentBackend()).not.toBeNull();
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => {
      const a = tf.tensor2d(A);
      const b = tf.tensor2d(B);
      const mask = tf.tensor2d([
        [1, 1, 0, 0],
        [1, 1, 0, 0],
        [0, 0, 1, 1],
        [0, 0, 1, 1],
      ]) as Tensor2D;
      const w = tf.tensor1d([0.5, 1.5, 0.8, 1.2]);
      const values = [
        ntXent([a, b], { weights: w, negativeMask: mask }),
        infoNce([a, b], { symmetric: true }),
        infoNceQueue(a, b, b),
        negativeCosine(a, b),
      ].map((s) => s.dataSync()[0]);
      const grads = [
        tf.grad((x: tf.Tensor) => ntXent([x as Tensor2D, b], { weights: w, negativeMask: mask }))(a),
        tf.grad((x: tf.Tensor) => infoNceQueue(x as Tensor2D, b, b))(a),
        tf.grad((x: tf.Tensor) => negativeCosine(x as Tensor2D, b))(a),
      ].map((g) => Array.from(g.dataSync()));
      return { values, grads };
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(out.values[0]).toBeCloseTo(refNtXent(A, B, 0.5, [0.5, 1.5, 0.8, 1.2], [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]), 4);
    expect(out.values[1]).toBeCloseTo(refInfoNce(A, B, 0.2, undefined, undefined, true), 4);
    expect(out.values[2]).toBeCloseTo(refQueue(A, B, B, 0.2), 4);
    expect(out.values[3]).toBeCloseTo(refNegCos(A, B), 5);
    for (const g of out.grads) expect(g.every(Number.isFinite) && g.some((v) => v !== 0)).toBe(true);
  });
});
