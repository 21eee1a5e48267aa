import { Rng } from '@genview/core';
import { afterAll, describe, expect, it } from 'vitest';
import { type ConvParamList, loadAddon } from '../src/addon';
import { selectNativeGemm } from '../src/index';
import { SKIP_REASON, nativeBuilt, onBoth, randomArray, relError, tf, useNative } from './helpers';

/** c = alpha op(a) op(b) + beta c0 in float64, the reference every implementation is held to. */
function reference(
  a: Float32Array,
  b: Float32Array,
  c0: Float32Array,
  [m, n, k]: [number, number, number],
  transA: boolean,
  transB: boolean,
  alpha: number,
  beta: number,
): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
      out[i * n + j] = alpha * sum + (beta === 0 ? 0 : beta * c0[i * n + j]);
    }
  }
  return out;
}

/** Largest error relative to sum_k |a||b| per element: the scale float rounding of a dot product grows with. */
function gemmError(got: Float32Array, ref: Float64Array, k: number): number {
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]) / (1 + Math.sqrt(k)));
  return worst;
}

// Odd sizes straddle every register tile (12x32, 6x16, 6x8) and cache block (kc 192/256, mc 72-144).
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 2],
  [13, 33, 7],
  [12, 32, 192],
  [25, 17, 193],
  [7, 65, 257],
  [145, 31, 40],
  [50, 3, 600],
  [289, 70, 300],
  // Deep enough to be cut along K into slices (4 of 4096 and a remainder), the filter-gradient path.
  [30, 20, 17000],
];

describe.skipIf(!nativeBuilt)(`native GEMM${nativeBuilt ? '' : ` (skipped: ${SKIP_REASON})`}`, () => {
  const addon = nativeBuilt ? loadAddon() : null;
  const implementations = addon?.info().gemmImplementations ?? [];

  afterAll(() => {
    addon?.selectGemm('auto');
    addon?.setThreads(2);
  });

  it('offers the portable kernel everywhere and picks a default it offers', () => {
    expect(implementations).toContain('generic');
    expect(implementations).toContain(addon?.info().gemm);
    expect(addon?.sgemm('no-such-gemm', new Float32Array(1), new Float32Array(1), new Float32Array(1), 1, 1, 1, false, false, 1, 0)).toBe(false);
    expect(() => selectNativeGemm('no-such-gemm')).toThrow(/not available here; choose one of .*generic/);
  });

  for (const impl of implementations) {
    it(`${impl}: every transpose, odd shapes, alpha and beta, against a float64 reference`, () => {
      const rng = new Rng(31);
      for (const shape of SHAPES) {
        const [m, n, k] = shape;
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            for (const [alpha, beta] of [
              [1, 0],
              [-0.5, 1],
              [2, 0.25],
            ]) {
              const a = randomArray(rng, [m * k]);
              const b = randomArray(rng, [k * n]);
              const c = randomArray(rng, [m * n]);
              // beta = 0 must overwrite C without reading it (tfjs hands over uninitialised outputs).
              if (beta === 0) c.fill(Number.NaN);
              const ref = reference(a, b, c, shape, transA, transB, alpha, beta);
              expect(addon?.sgemm(impl, a, b, c, m, n, k, transA, transB, alpha, beta)).toBe(true);
              const label = `${impl} ${m}x${n}x${k} transA=${transA} transB=${transB} alpha=${alpha} beta=${beta}`;
              expect(gemmError(c, ref, k), label).toBeLessThan(1e-5);
            }
          }
        }
      }
    });
  }

  it('k = 0 scales C by beta (and zeroes it for beta = 0)', () => {
    for (const impl of implementations) {
      const c = Float32Array.from([1, 2, 3, 4, 5, 6]);
      addon?.sgemm(impl, new Float32Array(0), new Float32Array(0), c, 2, 3, 0, false, false, 1, 0.5);
      expect(Array.from(c), impl).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
      addon?.sgemm(impl, new Float32Array(0), new Float32Array(0), c, 2, 3, 0, false, false, 1, 0);
      expect(Array.from(c), impl).toEqual([0, 0, 0, 0, 0, 0]);
    }
  });

  it('our kernels give the same bits on 1, 2 and 3 threads (training stays reproducible)', () => {
    const rng = new Rng(32);
    // A product blocked by rows and one cut along K.
    for (const [m, n, k] of [
      [300, 70, 500],
      [40, 24, 20000],
    ]) {
      const a = randomArray(rng, [m * k]);
      const b = randomArray(rng, [k * n]);
      for (const impl of implementations.filter((name) => name !== 'openblas')) {
        const results = [1, 2, 3].map((threads) => {
          addon?.setThreads(threads);
          const c = new Float32Array(m * n);
          addon?.sgemm(impl, a, b, c, m, n, k, true, false, 1, 0);
          return c;
        });
        expect(results[1], `${impl} ${m}x${n}x${k} 2 threads`).toEqual(results[0]);
        expect(results[2], `${impl} ${m}x${n}x${k} 3 threads`).toEqual(results[0]);
      }
    }
    addon?.setThreads(2);
  });

  it('the filter gradient, summed over image chunks in parallel, gives the same bits on 1, 2 and 3 threads', () => {
    const rng = new Rng(36);
    // 40 images of 30x30x16 -> 3x3x16x8, stride 1, pad 1: the 8 MB unfold budget makes several chunks.
    const p: ConvParamList = [40, 30, 30, 16, 30, 30, 8, 3, 3, 1, 1, 1, 1, 1, 1];
    const x = randomArray(rng, [40 * 30 * 30 * 16]);
    const dy = randomArray(rng, [40 * 30 * 30 * 8]);
    // dw[kh, kw, c, o] = sum over images and output pixels of x[n, oh + kh - 1, ow + kw - 1, c] dy[n, oh, ow, o].
    const reference = new Float64Array(3 * 3 * 16 * 8);
    for (let n = 0; n < 40; n++) {
      for (let oh = 0; oh < 30; oh++) {
        for (let ow = 0; ow < 30; ow++) {
          const g = ((n * 30 + oh) * 30 + ow) * 8;
          for (let kh = 0; kh < 3; kh++) {
            const ih = oh + kh - 1;
            if (ih < 0 || ih >= 30) continue;
            for (let kw = 0; kw < 3; kw++) {
              const iw = ow + kw - 1;
              if (iw < 0 || iw >= 30) continue;
              const xi = ((n * 30 + ih) * 30 + iw) * 16;
              const wi = (kh * 3 + kw) * 16 * 8;
              for (let c = 0; c < 16; c++) for (let o = 0; o < 8; o++) reference[wi + c * 8 + o] += x[xi + c] * dy[g + o];
            }
          }
        }
      }
    }
    for (const impl of implementations.filter((name) => name !== 'openblas')) {
      addon?.selectGemm(impl);
      const results = [1, 2, 3].map((threads) => {
        addon?.setThreads(threads);
        const dw = new Float32Array(3 * 3 * 16 * 8);
        addon?.conv2dBackpropFilter(x, dy, dw, p);
        return dw;
      });
      expect(results[1], `${impl} 2 threads`).toEqual(results[0]);
      expect(results[2], `${impl} 3 threads`).toEqual(results[0]);
      expect(gemmError(results[0] as Float32Array, reference, 40 * 900), `${impl} against float64`).toBeLessThan(1e-5);
    }
    addon?.selectGemm('auto');
    addon?.setThreads(2);
  });

  it.skipIf(!implementations.includes('openblas'))('matches OpenBLAS on conv-sized products', () => {
    const rng = new Rng(33);
    // The three products of a 3x3 convolution layer on a batch of 28x28 maps: forward, input and
    // filter gradients (rows = 8 images x 784 pixels, K = 9 x 16 channels, 32 filters).
    const products: [number, number, number, boolean, boolean][] = [
      [6272, 32, 144, false, false],
      [6272, 144, 32, false, true],
      [144, 32, 6272, true, false],
    ];
    for (const [m, n, k, transA, transB] of products) {
      const a = randomArray(rng, [m * k]);
      const b = randomArray(rng, [k * n]);
      const blas = new Float32Array(m * n);
      addon?.sgemm('openblas', a, b, blas, m, n, k, transA, transB, 1, 0);
      for (const impl of implementations.filter((name) => name !== 'openblas')) {
        const ours = new Float32Array(m * n);
        addon?.sgemm(impl, a, b, ours, m, n, k, transA, transB, 1, 0);
        expect(relError(ours, blas), `${impl} vs openblas ${m}x${n}x${k}`).toBeLessThan(1e-5);
      }
    }
  });

  it('the convolution kernels agree with the cpu backend under every GEMM', async () => {
    await useNative();
    const rng = new Rng(34);
    const x = randomArray(rng, [3, 9, 11, 5]);
    const w = randomArray(rng, [3, 3, 5, 7]);
    const dy = randomArray(rng, [3, 5, 6, 7]);
    for (const impl of implementations) {
      selectNativeGemm(impl);
      const result = await onBoth(() => {
        const xt = tf.tensor4d(x, [3, 9, 11, 5]);
        const wt = tf.tensor4d(w, [3, 3, 5, 7]);
        const dyt = tf.tensor4d(dy, [3, 5, 6, 7]);
        return [
          tf.conv2d(xt, wt, 2, 'same'),
          tf.conv2dTranspose(dyt, wt, [3, 9, 11, 5], 2, 'same'),
          tf.grad((f) => tf.conv2d(xt, f as tf.Tensor4D, 2, 'same').square().sum())(wt),
          tf.matMul(tf.tensor2d(x.subarray(0, 45 * 33), [45, 33]), tf.tensor2d(w.subarray(0, 33 * 5), [33, 5])),
        ];
      });
      for (const [i, ref] of result.ref.entries()) expect(relError(result.got[i], ref), `${impl} output ${i}`).toBeLessThan(1e-5);
    }
    selectNativeGemm('auto');
  });

  it('convolutions over many images (run in per-thread image groups) match the cpu backend and give the same bits on 1-3 threads', async () => {
    await useNative();
    const rng = new Rng(37);
    // 20 images of 16x16x16, 3x3 to 8 channels: about two images per group, so ten groups.
    const x = randomArray(rng, [20, 16, 16, 16]);
    const w = randomArray(rng, [3, 3, 16, 8]);
    const dy = randomArray(rng, [20, 8, 8, 8]);
    const dyFull = randomArray(rng, [20, 16, 16, 8]);
    const build = () => {
      const xt = tf.tensor4d(x, [20, 16, 16, 16]);
      const wt = tf.tensor4d(w, [3, 3, 16, 8]);
      return [
        tf.conv2d(xt, wt, 1, 'same'),
        tf.conv2d(xt, wt, 2, 'same'),
        tf.conv2dTranspose(tf.tensor4d(dy, [20, 8, 8, 8]), wt, [20, 16, 16, 16], 2, 'same'),
        // Stride 1: the input gradient runs as a forward convolution with the flipped filter.
        tf.conv2dTranspose(tf.tensor4d(dyFull, [20, 16, 16, 8]), wt, [20, 16, 16, 16], 1, 'same'),
        tf.grad((f) => tf.conv2d(xt, f as tf.Tensor4D, 2, 'same').square().sum())(wt),
      ];
    };
    for (const impl of implementations) {
      selectNativeGemm(impl);
      const byThreads: Float32Array[][] = [];
      for (const threads of [1, 2, 3]) {
        addon?.setThreads(threads);
        const result = await onBoth(build);
        for (const [i, ref] of result.ref.entries()) expect(relError(result.got[i], ref), `${impl} output ${i}`).toBeLessThan(1e-5);
        byThreads.push(result.got);
      }
      if (impl !== 'openblas') {
        for (const [i, got] of byThreads[0].entries()) {
          expect(byThreads[1][i], `${impl} output ${i} on 2 threads`).toEqual(got);
          expect(byThreads[2][i], `${impl} output ${i} on 3 threads`).toEqual(got);
        }
      }
    }
    addon?.setThreads(2);
    selectNativeGemm('auto');
  });
});
