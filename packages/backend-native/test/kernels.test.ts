import { Rng } from '@genview/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { NATIVE_KERNEL_NAMES, nativeBackendInfo } from '../src/index';
import { NATIVE, SKIP_REASON, expectFiniteDifferences, nativeBuilt, onBoth, randomArray, relError, tf, useNative } from './helpers';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

const TOL = 1e-5;

function check(result: { ref: Float32Array[]; got: Float32Array[] }, label: string, tol = TOL): void {
  expect(result.got.length, label).toBe(result.ref.length);
  for (const [i, r] of result.ref.entries()) expect(relError(result.got[i], r), `${label} [${i}]`).toBeLessThan(tol);
}

describe.skipIf(!nativeBuilt)(`genview-native kernels vs the cpu backend${nativeBuilt ? '' : ` (skipped: ${SKIP_REASON})`}`, () => {
  beforeAll(async () => {
    await useNative();
  });

  it('registers every cpu kernel and reports its BLAS', () => {
    const cpu = tf.getKernelsForBackend('cpu').map((k) => k.kernelName);
    const native = new Set(tf.getKernelsForBackend(NATIVE).map((k) => k.kernelName));
    expect(cpu.filter((k) => !native.has(k))).toEqual([]);
    const info = nativeBackendInfo();
    expect(info.gemmImplementations).toContain(info.gemm);
    expect(info.gemmImplementations).toContain('generic');
    if (info.gemmImplementations.includes('openblas')) {
      expect(info.blas).toMatch(/OpenBLAS/);
      expect(info.blasThreads).toBeGreaterThan(0);
    } else {
      expect(info.blas).toBe('');
    }
    expect(info.nativeKernels).toEqual(expect.arrayContaining(['Conv2D', 'Conv2DBackpropFilter', 'BatchMatMul']));
    expect(NATIVE_KERNEL_NAMES.length).toBeGreaterThan(10);
    // The hot kernels really are replaced, not the stock ones copied under the new name.
    for (const name of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul', 'Sum', 'Multiply', 'UnsortedSegmentSum']) {
      expect(tf.getKernel(name, NATIVE).kernelFunc, name).not.toBe(tf.getKernel(name, 'cpu').kernelFunc);
    }
  });

  it('Conv2D: random shapes, strides, dilations and same/valid/explicit padding', async () => {
    const rng = new Rng(11);
    for (let c = 0; c < 40; c++) {
      const k = [1, 2, 3, 5][rng.int(4)];
      const dilation = rng.int(3) === 0 ? 2 : 1;
      const stride = dilation > 1 ? 1 : 1 + rng.int(3); // tfjs allows stride > 1 or dilation > 1, not both
      const h = k * dilation + rng.int(8);
      const w = k * dilation + rng.int(8);
      const pads: Pad[] = ['same', 'valid', [[0, 0], [rng.int(3), rng.int(3)], [rng.int(3), rng.int(3)], [0, 0]]];
      const pad = pads[c % 3];
      const xs: [number, number, number, number] = [1 + rng.int(3), h, w, 1 + rng.int(5)];
      const ws: [number, number, number, number] = [k, k, xs[3], 1 + rng.int(6)];
      const x = randomArray(rng, xs);
      const f = randomArray(rng, ws);
      const label = `x ${xs} w ${ws} stride ${stride} dilation ${dilation} pad ${JSON.stringify(pad)}`;
      check(await onBoth(() => tf.conv2d(tf.tensor4d(x, xs), tf.tensor4d(f, ws), stride, pad, 'NHWC', dilation)), label);
    }
  });

  it('Conv2DBackpropInput and Conv2DBackpropFilter match the cpu gradients', async () => {
    const rng = new Rng(12);
    for (let c = 0; c < 30; c++) {
      const k = [1, 2, 3, 4][rng.int(4)];
      const stride = 1 + rng.int(3);
      const xs: [number, number, number, number] = [1 + rng.int(3), k + rng.int(9), k + rng.int(9), 1 + rng.int(4)];
      const ws: [number, number, number, number] = [k, k, xs[3], 1 + rng.int(5)];
      const pads: Pad[] = ['same', 'valid', [[0, 0], [rng.int(2), rng.int(3)], [rng.int(3), rng.int(2)], [0, 0]]];
      const pad = pads[c % 3];
      const x = randomArray(rng, xs);
      const f = randomArray(rng, ws);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad))),
      );
      const label = `x ${xs} w ${ws} stride ${stride} pad ${JSON.stringify(pad)}`;
      check(await onBoth(() => g([tf.tensor4d(x, xs), tf.tensor4d(f, ws)])), label, 1e-4);
    }
  });

  it('conv gradients agree with central finite differences on the native backend', async () => {
    const rng = new Rng(13);
    const xs: [number, number, number, number] = [2, 5, 6, 2];
    const ws: [number, number, number, number] = [3, 3, 2, 3];
    const x = randomArray(rng, xs);
    const f = randomArray(rng, ws);
    await tf.setBackend(NATIVE);
    // Loss in float64 on the JS side so the difference quotient is not drowned by float32 rounding.
    const loss = (xa: Float32Array, fa: Float32Array): number =>
      tf.tidy(() => {
        const y = tf.conv2d(tf.tensor4d(xa, xs), tf.tensor4d(fa, ws), 2, 'same');
        const v = y.dataSync();
        let s = 0;
        for (let i = 0; i < v.length; i++) s += Math.sin(v[i]) * (1 + (i % 3));
        return s;
      });
    const weights = tf.tidy(() => {
      const y = tf.conv2d(tf.tensor4d(x, xs), tf.tensor4d(f, ws), 2, 'same');
      const mult = tf.tensor(Array.from({ length: y.size }, (_, i) => 1 + (i % 3)), y.shape);
      return tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.sin(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')), mult)),
      )([tf.tensor4d(x, xs), tf.tensor4d(f, ws)]);
    });
    const [dx, df] = await Promise.all(weights.map((t) => t.data()));
    tf.dispose(weights);
    expectFiniteDifferences(rng, [
      { name: 'dx', values: x, grad: dx, loss: (p) => loss(p, f) },
      { name: 'dw', values: f, grad: df, loss: (p) => loss(x, p) },
    ]);
  });

  it('FusedConv2D with bias and relu/linear (and the prelu fallback)', async () => {
    const rng = new Rng(14);
    for (const [activation, pad] of [
      ['relu', 'same'],
      ['linear', 'valid'],
      ['prelu', 'same'],
      ['elu', 'same'],
    ] as const) {
      const xs: [number, number, number, number] = [2, 7, 6, 3];
      const ws: [number, number, number, number] = [3, 3, 3, 4];
      const x = randomArray(rng, xs);
      const f = randomArray(rng, ws);
      const b = randomArray(rng, [4]);
      const alpha = randomArray(rng, [4]);
      check(
        await onBoth(() =>
          tf.fused.conv2d({
            x: tf.tensor4d(x, xs),
            filter: tf.tensor4d(f, ws),
            strides: 2,
            pad,
            bias: tf.tensor1d(b),
            activation,
            preluActivationWeights: activation === 'prelu' ? tf.tensor1d(alpha) : undefined,
          }),
        ),
        `fused ${activation}`,
      );
    }
  });

  it('BatchMatMul and _FusedMatMul: transposes, batch broadcasting, bias + relu', async () => {
    const rng = new Rng(15);
    const cases: [number[], number[], boolean, boolean][] = [
      [[5, 7], [7, 3], false, false],
      [[7, 5], [7, 3], true, false],
      [[5, 7], [3, 7], false, true],
      [[7, 5], [3, 7], true, true],
      [[4, 5, 7], [4, 7, 3], false, false],
      [[4, 5, 7], [1, 7, 3], false, false],
      [[1, 5, 7], [4, 3, 7], false, true],
      [[2, 3, 6, 4], [2, 3, 4, 5], false, false],
      [[64, 130], [130, 96], false, false],
    ];
    for (const [as, bs, ta, tb] of cases) {
      const a = randomArray(rng, as);
      const b = randomArray(rng, bs);
      const label = `${as} x ${bs} ${ta} ${tb}`;
      check(await onBoth(() => tf.matMul(tf.tensor(a, as), tf.tensor(b, bs), ta, tb)), label);
      const n = tb ? bs[bs.length - 2] : bs[bs.length - 1];
      const bias = randomArray(rng, [n]);
      check(
        await onBoth(() =>
          tf.fused.matMul({ a: tf.tensor(a, as), b: tf.tensor(b, bs), transposeA: ta, transposeB: tb, bias: tf.tensor1d(bias), activation: 'relu' }),
        ),
        `fused ${label}`,
      );
    }
    // Gradient of a dense layer through the fused kernel.
    const x = randomArray(rng, [6, 9]);
    const w = randomArray(rng, [9, 4]);
    const g = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
      tf.sum(tf.square(tf.fused.matMul({ a: p as tf.Tensor2D, b: q as tf.Tensor2D, activation: 'relu' }))),
    );
    check(await onBoth(() => g([tf.tensor2d(x, [6, 9]), tf.tensor2d(w, [9, 4])])), 'fused matMul grads');
  });

  it('UnsortedSegmentSum (the gradient of gather): repeated, missing and out-of-range ids, and gather gradients', async () => {
    const rng = new Rng(21);
    const x = randomArray(rng, [9, 3, 4]);
    const ids = [2, 0, 2, 5, -1, 0, 7, 2, 1];
    check(await onBoth(() => tf.unsortedSegmentSum(tf.tensor(x, [9, 3, 4]), tf.tensor1d(ids, 'int32'), 6)), 'segment sum 3-d');
    check(await onBoth(() => tf.unsortedSegmentSum(tf.tensor(x.slice(0, 9), [9]), tf.tensor1d(ids, 'int32'), 8)), 'segment sum 1-d');
    // An embedding lookup's gradient: many rows, a table far bigger than the batch.
    const table = randomArray(rng, [500, 16]);
    const tokens = Array.from({ length: 64 * 12 }, () => rng.int(500));
    check(
      await onBoth(() => tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, tf.tensor1d(tokens, 'int32')))))(tf.tensor(table, [500, 16]))),
      'gather gradient',
    );
  });

  it('Slice, SplitV and Transpose: every axis pattern, int32 too, and attention-shaped splits', async () => {
    const rng = new Rng(22);
    const shape = [3, 4, 5, 6];
    const x = randomArray(rng, shape);
    const slices: Array<[number[], number[]]> = [
      [[0, 0, 0, 0], [3, 4, 5, 6]],
      [[1, 0, 0, 0], [2, 4, 5, 6]],
      [[0, 1, 0, 0], [3, 2, 5, 6]],
      [[0, 0, 2, 0], [3, 4, 3, 6]],
      [[0, 0, 0, 2], [3, 4, 5, 3]],
      [[1, 2, 1, 1], [1, 1, 3, 4]],
      [[2, 3, 4, 5], [1, 1, 1, 1]],
      [[0, 0, 0, 0], [3, 4, 5, 0]],
      [[0, 1, 0, 0], [-1, -1, -1, -1]],
    ];
    for (const [begin, size] of slices) {
      check(await onBoth(() => tf.slice(tf.tensor(x, shape), begin, size)), `slice ${begin} ${size}`);
    }
    const ids = Array.from({ length: 60 }, () => rng.int(1000));
    check(await onBoth(() => tf.cast(tf.slice(tf.tensor(ids, [6, 10], 'int32'), [1, 3], [4, 5]), 'float32')), 'int32 slice');
    for (const perm of [[0, 1, 2, 3], [3, 2, 1, 0], [0, 2, 1, 3], [1, 0, 3, 2], [2, 3, 0, 1], [0, 1, 3, 2]]) {
      check(await onBoth(() => tf.transpose(tf.tensor(x, shape), perm)), `transpose ${perm}`);
    }
    check(await onBoth(() => tf.transpose(tf.tensor(x.slice(0, 20), [4, 5]))), 'transpose 2-d');
    for (const axis of [0, 1, 2, 3, -1]) {
      check(await onBoth(() => tf.split(tf.tensor(x, shape), (shape.at(axis) as number) % 3 === 0 ? 3 : [1, -1], axis)), `split axis ${axis}`);
    }
    check(await onBoth(() => tf.cast(tf.transpose(tf.tensor(ids, [3, 4, 5], 'int32'), [2, 0, 1]), 'float32')), 'int32 transpose');
    // Multi-head attention's layout work and its gradients: split q/k/v off the last axis, heads to the front.
    const qkv = randomArray(rng, [8, 12, 3 * 32]);
    check(
      await onBoth(() =>
        tf.grad((t: tf.Tensor) => {
          const [q, k] = tf.split(t, 3, 2).map((part) => tf.transpose(tf.reshape(part, [8, 12, 4, 8]), [0, 2, 1, 3]));
          return tf.sum(tf.mul(tf.matMul(q as tf.Tensor4D, k as tf.Tensor4D, false, true), 0.1));
        })(tf.tensor(qkv, [8, 12, 96])),
      ),
      'attention layout gradient',
    );
  });

  it('MirrorPad (reflect and symmetric, every axis, ranks 1-4) and ClipByValue (NaN kept) match the cpu backend', async () => {
    const rng = new Rng(23);
    const shape = [2, 5, 4, 3];
    const x = randomArray(rng, shape);
    const pads: Array<[number, number][]> = [
      [[0, 0], [1, 1], [1, 1], [0, 0]],
      [[1, 0], [0, 2], [3, 1], [2, 2]],
      [[0, 0], [4, 4], [0, 0], [0, 0]],
      [[0, 0], [0, 0], [0, 0], [1, 2]],
    ];
    for (const mode of ['reflect', 'symmetric'] as const) {
      // reflect needs pads < size, symmetric pads <= size.
      for (const p of pads.filter((pad) => mode === 'symmetric' || pad.every(([a, b], d) => a < shape[d] && b < shape[d]))) {
        check(await onBoth(() => tf.mirrorPad(tf.tensor(x, shape), p, mode)), `mirrorPad ${mode} ${JSON.stringify(p)}`);
      }
      check(await onBoth(() => tf.mirrorPad(tf.tensor1d(x.slice(0, 6)), [[2, 3]], mode)), `mirrorPad ${mode} rank 1`);
      check(await onBoth(() => tf.mirrorPad(tf.tensor2d(x.slice(0, 12), [3, 4]), [[1, 2], [2, 1]], mode)), `mirrorPad ${mode} rank 2`);
    }
    const withNaN = Float32Array.from(x, (v, i) => (i % 17 === 0 ? Number.NaN : 3 * v));
    check(await onBoth(() => tf.clipByValue(tf.tensor(withNaN, shape), -0.5, 1)), 'clipByValue');
  });

  it('Sum and Mean over contiguous and non-contiguous axes, keepDims', async () => {
    const rng = new Rng(16);
    const shape = [6, 5, 4, 7];
    const x = randomArray(rng, shape);
    const big = randomArray(rng, [64, 28, 28, 8]);
    for (const axis of [0, 1, 3, -1, [0, 1, 2], [1, 2], [2, 3], [0, 2], [0, 1, 2, 3], [1, 3]]) {
      for (const keepDims of [false, true]) {
        check(await onBoth(() => tf.sum(tf.tensor(x, shape), axis, keepDims)), `sum ${axis} ${keepDims}`);
        check(await onBoth(() => tf.mean(tf.tensor(x, shape), axis, keepDims)), `mean ${axis} ${keepDims}`);
      }
    }
    // Long reductions (batch-norm moments) take the threaded path and must still match.
    check(await onBoth(() => tf.moments(tf.tensor(big, [64, 28, 28, 8]), [0, 1, 2]).variance), 'moments variance');
    check(await onBoth(() => tf.sum(tf.tensor(big, [64, 28, 28, 8]), [1, 2])), 'spatial sum');
  });

  it('binary ops with every broadcast pattern, and unary ops (NaN passes like the cpu backend)', async () => {
    const rng = new Rng(17);
    const pairs: [number[], number[]][] = [
      [[4, 5, 6, 3], [4, 5, 6, 3]],
      [[4, 5, 6, 3], [3]],
      [[3], [4, 5, 6, 3]],
      [[4, 5, 6, 3], []],
      [[], [4, 5, 6, 3]],
      [[4, 5, 6, 3], [4, 1, 1, 3]],
      [[4, 1, 6, 1], [1, 5, 1, 3]],
      [[5, 1], [1, 7]],
      [[2, 3], [1]],
      [[1], [1]],
      [[300, 256], [256]],
    ];
    const ops: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = [
      ['add', tf.add],
      ['sub', tf.sub],
      ['mul', tf.mul],
      ['div', tf.div],
      ['squaredDifference', tf.squaredDifference],
    ];
    for (const [as, bs] of pairs) {
      const a = randomArray(rng, as);
      const b = randomArray(rng, bs, 0.5, 2);
      for (const [name, op] of ops) check(await onBoth(() => op(tf.tensor(a, as), tf.tensor(b, bs))), `${name} ${as} ${bs}`);
    }
    const x = randomArray(rng, [1000], -2, 2);
    x[3] = Number.NaN;
    x[4] = 0;
    const pos = x.map((v) => Math.abs(v) + 0.1);
    for (const [name, op, input] of [
      ['relu', tf.relu, x],
      ['step', (t: tf.Tensor) => tf.step(t), x],
      ['square', tf.square, x],
      ['neg', tf.neg, x],
      ['exp', tf.exp, x],
      ['sqrt', tf.sqrt, pos],
      ['rsqrt', tf.rsqrt, pos],
    ] as const) {
      check(await onBoth(() => op(tf.tensor1d(input))), name);
    }
    // int32 inputs are not float32 data: they take the stock kernels and keep their dtype.
    await tf.setBackend(NATIVE);
    const ints = tf.add(tf.tensor1d([1, 2, 3], 'int32'), tf.tensor1d([4, 5, 6], 'int32'));
    expect(ints.dtype).toBe('int32');
    expect(Array.from(await ints.data())).toEqual([5, 7, 9]);
    ints.dispose();
  });
});
