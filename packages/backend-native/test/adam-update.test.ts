import { ADAM_UPDATE_KERNEL, type AdamUpdateAttrs, Rng, adamUpdate } from '@genview/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { NATIVE, SKIP_REASON, nativeBuilt, onBoth, randomArray, tf, useNative } from './helpers';

const CASES: { name: string; attrs: AdamUpdateAttrs }[] = [
  { name: 'adam, first step', attrs: { beta1: 0.9, beta2: 0.999, eps: 1e-8, stepSize: 1e-3 / 0.1, sqrtBiasCorrection2: Math.sqrt(0.001), l2: 0, decayFactor: 1 } },
  { name: 'adam with L2 decay, step 40', attrs: { beta1: 0.9, beta2: 0.99, eps: 1e-6, stepSize: 3e-3 / (1 - 0.9 ** 40), sqrtBiasCorrection2: Math.sqrt(1 - 0.99 ** 40), l2: 5e-4, decayFactor: 1 } },
  { name: 'adamw, decoupled decay', attrs: { beta1: 0.9, beta2: 0.999, eps: 1e-8, stepSize: 2e-3, sqrtBiasCorrection2: 0.3, l2: 0, decayFactor: 1 - 2e-3 * 0.05 } },
  // 1 − β1 ≥ 0.5 takes torch.lerp's other form.
  { name: 'beta1 0.3 (the other lerp form)', attrs: { beta1: 0.3, beta2: 0.5, eps: 1e-3, stepSize: 0.1, sqrtBiasCorrection2: 0.9, l2: 1e-2, decayFactor: 1 } },
];

describe.skipIf(!nativeBuilt)(`fused Adam step on genview-native${nativeBuilt ? '' : ` (skipped: ${SKIP_REASON})`}`, () => {
  beforeAll(async () => {
    await useNative();
  });

  it('is registered on the native rung and absent on cpu (which composes ops)', () => {
    expect(tf.getKernel(ADAM_UPDATE_KERNEL, NATIVE)).toBeDefined();
    expect(tf.getKernel(ADAM_UPDATE_KERNEL, 'cpu')).toBeUndefined();
  });

  it('gives the composed ops’ bits for every decay form, on shapes that split over threads and ones that do not', async () => {
    const rng = new Rng(11);
    for (const shape of [[7], [3, 3, 16, 32], [1 << 17]]) {
      const w = randomArray(rng, shape);
      const g = randomArray(rng, shape, -0.1, 0.1);
      const m = randomArray(rng, shape, -0.01, 0.01);
      const v = randomArray(rng, shape, 0, 1e-4);
      for (const { name, attrs } of CASES) {
        const { ref, got } = await onBoth(() =>
          adamUpdate({ weights: tf.tensor(w, shape), grad: tf.tensor(g, shape), expAvg: tf.tensor(m, shape), expAvgSq: tf.tensor(v, shape) }, attrs),
        );
        for (const [i, out] of ['w', 'm', 'v'].entries()) {
          expect(Buffer.from((got[i] as Float32Array).buffer).equals(Buffer.from((ref[i] as Float32Array).buffer)), `${name} [${shape}] ${out}`).toBe(true);
        }
      }
    }
  });

  it('leaves its inputs untouched and returns fresh tensors', async () => {
    await tf.setBackend(NATIVE);
    const w = tf.tensor([1, 2, 3]);
    const before = Float32Array.from(w.dataSync());
    const grad = [0.1, -0.2, 0.3];
    const out = adamUpdate({ weights: w, grad: tf.tensor(grad), expAvg: tf.zeros([3]), expAvgSq: tf.zeros([3]) }, CASES[0]!.attrs);
    expect(Array.from(w.dataSync())).toEqual(Array.from(before));
    expect(out[0].dataId).not.toBe(w.dataId);
    // Each weight moves against its gradient.
    const moved = Array.from(out[0].dataSync(), (x, i) => Math.sign(x - (before[i] as number)));
    expect(moved).toEqual(grad.map((g) => -Math.sign(g)));
  });
});
