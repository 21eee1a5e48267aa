import { type AdamUpdateAttrs, adamUpdate, isGenviewError, tf } from '@genview/core';
import { beforeAll, describe, expect, it } from 'vitest';

/** PyTorch's Adam step in float64, element by element: the reference for the composed float32 ops. */
function reference(w: number, g: number, m: number, v: number, a: AdamUpdateAttrs): [number, number, number] {
  const grad = g + a.l2 * w;
  const mNext = m + (grad - m) * (1 - a.beta1);
  const vNext = a.beta2 * v + (1 - a.beta2) * grad * grad;
  const wNext = a.decayFactor * w - (a.stepSize * mNext) / (Math.sqrt(vNext) / a.sqrtBiasCorrection2 + a.eps);
  return [wNext, mNext, vNext];
}

describe('adamUpdate', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('follows PyTorch’s formulas (float64 reference) for Adam, L2 decay and AdamW', () => {
    const w = [0.5, -1.25, 2, 0];
    const g = [0.1, 0.02, -0.3, 1e-3];
    const m = [0.01, -0.02, 0, 0.5];
    const v = [1e-4, 0, 2e-3, 0.1];
    const cases: AdamUpdateAttrs[] = [
      { beta1: 0.9, beta2: 0.999, eps: 1e-8, stepSize: 1e-2, sqrtBiasCorrection2: Math.sqrt(1e-3), l2: 0, decayFactor: 1 },
      { beta1: 0.9, beta2: 0.99, eps: 1e-6, stepSize: 3e-3, sqrtBiasCorrection2: 0.5, l2: 1e-2, decayFactor: 1 },
      { beta1: 0.8, beta2: 0.999, eps: 1e-8, stepSize: 1e-3, sqrtBiasCorrection2: 0.7, l2: 0, decayFactor: 1 - 1e-3 * 0.1 },
    ];
    for (const attrs of cases) {
      const out = tf.tidy(() =>
        adamUpdate({ weights: tf.tensor(w), grad: tf.tensor(g), expAvg: tf.tensor(m), expAvgSq: tf.tensor(v) }, attrs).map((t) => t.dataSync()),
      );
      for (let i = 0; i < w.length; i++) {
        const want = reference(w[i] as number, g[i] as number, m[i] as number, v[i] as number, attrs);
        for (let k = 0; k < 3; k++) {
          const scale = Math.max(1e-6, Math.abs(want[k] as number));
          expect(Math.abs((out[k]?.[i] as number) - (want[k] as number)) / scale, `out ${k} element ${i}`).toBeLessThan(1e-5);
        }
      }
    }
  });

  it('refuses mismatched shapes and non-float inputs, naming the input', () => {
    const attrs: AdamUpdateAttrs = { beta1: 0.9, beta2: 0.999, eps: 1e-8, stepSize: 1e-3, sqrtBiasCorrection2: 1, l2: 0, decayFactor: 1 };
    const call = (grad: tf.Tensor) => () => adamUpdate({ weights: tf.zeros([2, 3]), grad, expAvg: tf.zeros([2, 3]), expAvgSq: tf.zeros([2, 3]) }, attrs);
    for (const [grad, text] of [
      [tf.zeros([3, 2]), 'grad has shape [3, 2], the weights [2, 3]'],
      [tf.zeros([2, 3], 'int32'), 'grad must be float32'],
    ] as const) {
      try {
        call(grad)();
        expect.unreachable('adamUpdate accepted a bad gradient');
      } catch (error) {
        expect(isGenviewError(error)).toBe(true);
        expect(String((error as Error).message)).toContain(text);
      }
    }
  });
});
