import { Rng, selectBackend, tf } from '@genview/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../src/backend/wasm-training-kernels';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
type Backend = 'cpu' | 'wasm';

interface Host {
  values: Float32Array;
  shape: number[];
}

const rng = new Rng(20240611);

function randomHost(shape: number[]): Host {
  const size = shape.reduce((a, b) => a * b, 1);
  return { values: Float32Array.from({ length: size }, () => rng.uniform(-1, 1)), shape };
}

async function use(backend: Backend): Promise<void> {
  await selectBackend({ force: backend });
}

/** Runs `body` on a backend with the host arrays turned into tensors there, and copies the results back. */
async function on(backend: Backend, inputs: Host[], body: (...t: tf.Tensor[]) => tf.Tensor | tf.Tensor[]): Promise<Host[]> {
  await use(backend);
  const tensors = inputs.map((h) => tf.tensor(h.values, h.shape));
  const out = body(...tensors);
  const outs = Array.isArray(out) ? out : [out];
  const hosts = outs.map((t) => ({ values: t.dataSync() as Float32Array, shape: t.shape.slice() }));
  tf.dispose([...tensors, ...outs]);
  return hosts;
}

function expectClose(actual: Host, expected: Host, label: string): void {
  expect(actual.shape, label).toEqual(expected.shape);
  let scale = 1;
  for (const v of expected.values) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < expected.values.length; i++) worst = Math.max(worst, Math.abs(actual.values[i] - expected.values[i]));
  expect(worst / scale, label).toBeLessThan(1e-4);
}

interface ConvCase {
  n: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  kh: number;
  kw: number;
  strides: [number, number];
  dilations: [number, number];
  pad: Pad;
}

function randomCase(depthwise: boolean): ConvCase {
  for (;;) {
    const stride = 1 + rng.int(2);
    const strides: [number, number] = [stride, rng.bernoulli(0.7) ? stride : 1 + rng.int(2)];
    // tfjs allows dilation only with stride 1, and conv2d gradients only for dilation 1.
    const dil = depthwise && strides[0] === 1 && strides[1] === 1 ? 1 + rng.int(2) : 1;
    const c: ConvCase = {
      n: 1 + rng.int(5),
      h: 1 + rng.int(9),
      w: 1 + rng.int(9),
      cin: 1 + rng.int(8),
      cout: depthwise ? 1 + rng.int(2) : 1 + rng.int(8),
      kh: 1 + rng.int(4),
      kw: 1 + rng.int(4),
      strides,
      dilations: [dil, dil],
      pad: 'same',
    };
    const kind = rng.int(3);
    c.pad = kind === 0 ? 'same' : kind === 1 ? 'valid' : [[0, 0], [rng.int(3), rng.int(3)], [rng.int(3), rng.int(3)], [0, 0]];
    const effH = (c.kh - 1) * dil + 1;
    const effW = (c.kw - 1) * dil + 1;
    const padH = Array.isArray(c.pad) ? c.pad[1][0] + c.pad[1][1] : 0;
    const padW = Array.isArray(c.pad) ? c.pad[2][0] + c.pad[2][1] : 0;
    if (c.pad !== 'same' && (c.h + padH < effH || c.w + padW < effW)) continue;
    return c;
  }
}

function outShape(c: ConvCase, depthwise: boolean): number[] {
  const info = tf.backend_util.computeConv2DInfo([c.n, c.h, c.w, c.cin], [c.kh, c.kw, c.cin, c.cout], c.strides, c.dilations, c.pad, undefined, depthwise);
  return info.outShape;
}

/** Spreads a filter's taps `d` apart with zeros: a dilated conv equals a plain conv with this filter. */
function dilateFilter(f: Host, d: number): Host {
  const [kh, kw, c, m] = f.shape;
  const eh = (kh - 1) * d + 1;
  const ew = (kw - 1) * d + 1;
  const values = new Float32Array(eh * ew * c * m);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let k = 0; k < c * m; k++) values[((i * d) * ew + j * d) * c * m + k] = f.values[(i * kw + j) * c * m + k];
  return { values, shape: [eh, ew, c, m] };
}

/** The inverse of dilateFilter: keeps every d-th tap. */
function undilateFilter(f: Host, d: number, kh: number, kw: number): Host {
  const [, ew, c, m] = f.shape;
  const values = new Float32Array(kh * kw * c * m);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let k = 0; k < c * m; k++) values[(i * kw + j) * c * m + k] = f.values[((i * d) * ew + j * d) * c * m + k];
  return { values, shape: [kh, kw, c, m] };
}

function describeCase(c: ConvCase): string {
  return JSON.stringify(c);
}

const CASES = 36;

describe('wasm training kernels', () => {
  beforeAll(async () => {
    await use('wasm');
  });

  afterAll(async () => {
    await selectBackend();
  });

  it('registers idempotently and replaces the stock Conv2DBackpropInput', () => {
    registerWasmTrainingKernels();
    registerWasmTrainingKernels();
    for (const name of ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']) {
      expect(tf.getKernel(name, 'wasm'), name).toBeDefined();
    }
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm').kernelFunc.name).toBe('conv2DBackpropInput');
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm').setupFunc).toBeUndefined();
  });

  it('Conv2DBackpropFilter matches cpu', async () => {
    for (let i = 0; i < CASES; i++) {
      const c = randomCase(false);
      const x = randomHost([c.n, c.h, c.w, c.cin]);
      const dy = randomHost(outShape(c, false));
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: [c.kh, c.kw, c.cin, c.cout] };
      const run = (xt: tf.Tensor, dyt: tf.Tensor) => tf.engine().runKernel('Conv2DBackpropFilter', { x: xt, dy: dyt }, attrs) as tf.Tensor;
      const [want] = await on('cpu', [x, dy], run);
      const [got] = await on('wasm', [x, dy], run);
      expectClose(got, want, describeCase(c));
    }
  });

  it('Conv2DBackpropInput matches cpu', async () => {
    for (let i = 0; i < CASES; i++) {
      const c = randomCase(false);
      const filter = randomHost([c.kh, c.kw, c.cin, c.cout]);
      const dy = randomHost(outShape(c, false));
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: [c.n, c.h, c.w, c.cin] };
      const run = (dyt: tf.Tensor, ft: tf.Tensor) => tf.engine().runKernel('Conv2DBackpropInput', { dy: dyt, filter: ft }, attrs) as tf.Tensor;
      const [want] = await on('cpu', [dy, filter], run);
      const [got] = await on('wasm', [dy, filter], run);
      expectClose(got, want, describeCase(c));
    }
  });

  it('DepthwiseConv2dNativeBackpropFilter matches cpu', async () => {
    for (let i = 0; i < CASES; i++) {
      const c = randomCase(true);
      const x = randomHost([c.n, c.h, c.w, c.cin]);
      const dy = randomHost(outShape(c, true));
      const attrs = { strides: c.strides, dilations: c.dilations, pad: c.pad, filterShape: [c.kh, c.kw, c.cin, c.cout] };
      const run = (a: typeof attrs) => (xt: tf.Tensor, dyt: tf.Tensor) =>
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: xt, dy: dyt }, a) as tf.Tensor;
      // The cpu kernel ignores dilations, so dilated cases are checked against an undilated conv with a
      // zero-spread filter, whose gradient holds the dilated one at every d-th tap.
      const d = c.dilations[0];
      const eh = (c.kh - 1) * d + 1;
      const ew = (c.kw - 1) * d + 1;
      const refAttrs = { ...attrs, dilations: [1, 1] as [number, number], filterShape: [eh, ew, c.cin, c.cout] };
      const [spread] = await on('cpu', [x, dy], run(refAttrs));
      const want = undilateFilter(spread, d, c.kh, c.kw);
      const [got] = await on('wasm', [x, dy], run(attrs));
      expectClose(got, want, describeCase(c));
    }
  });

  it('DepthwiseConv2dNativeBackpropInput matches cpu', async () => {
    for (let i = 0; i < CASES; i++) {
      const c = randomCase(true);
      const filter = randomHost([c.kh, c.kw, c.cin, c.cout]);
      const dy = randomHost(outShape(c, true));
      const attrs = { strides: c.strides, dilations: c.dilations, pad: c.pad, inputShape: [c.n, c.h, c.w, c.cin] };
      const run = (a: typeof attrs) => (dyt: tf.Tensor, ft: tf.Tensor) =>
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: dyt, filter: ft }, a) as tf.Tensor;
      // The cpu kernel ignores dilations: compare with an undilated conv of the zero-spread filter.
      const [want] = await on('cpu', [dy, dilateFilter(filter, c.dilations[0])], run({ ...attrs, dilations: [1, 1] as [number, number] }));
      const [got] = await on('wasm', [dy, filter], run(attrs));
      expectClose(got, want, describeCase(c));
    }
  });

  it('Tile matches cpu, float32 and int32', async () => {
    for (let i = 0; i < CASES; i++) {
      const rank = rng.int(5);
      const shape = Array.from({ length: rank }, () => 1 + rng.int(4));
      const reps = Array.from({ length: rank }, () => 1 + rng.int(3));
      const x = randomHost(shape);
      const tileBoth = (t: tf.Tensor) => [tf.tile(t, reps), tf.tile(tf.cast(tf.mul(t, 100), 'int32'), reps)];
      const want = await on('cpu', [x], tileBoth);
      const got = await on('wasm', [x], tileBoth);
      for (const [j, w] of want.entries()) expect(Array.from(got[j].values), JSON.stringify({ shape, reps })).toEqual(Array.from(w.values));
    }
  });

  it('gradients of a small conv net through tf.grads match cpu', async () => {
    const x = randomHost([3, 11, 10, 3]);
    const w1 = randomHost([3, 3, 3, 6]);
    const w2 = randomHost([3, 3, 6, 8]);
    const dw = randomHost([3, 3, 8, 2]);
    const w3 = randomHost([1, 1, 16, 4]);
    const net = (xt: tf.Tensor, a: tf.Tensor, b: tf.Tensor, d: tf.Tensor, e: tf.Tensor) => {
      const c1 = tf.conv2d(xt as tf.Tensor4D, a as tf.Tensor4D, 1, 'same');
      // Batch norm with batch statistics: its gradient runs Tile, Sum and Mean on wasm. The statistics are
      // spelled out because tf.moments casts, and Cast's gradient fails under vitest's inlined tfjs-core.
      const mean = tf.mean(c1, [0, 1, 2]);
      const variance = tf.mean(tf.square(tf.sub(c1, mean)), [0, 1, 2]);
      const h1 = tf.relu(tf.batchNorm(c1, mean, variance, tf.fill([6], 0.1), tf.fill([6], 1.5), 1e-3)) as tf.Tensor4D;
      const h2 = tf.conv2d(h1, b as tf.Tensor4D, 2, 'valid');
      const h3 = tf.depthwiseConv2d(h2, d as tf.Tensor4D, [1, 2], 'same');
      const h4 = tf.conv2d(tf.tanh(h3), e as tf.Tensor4D, [2, 1], [[0, 0], [1, 0], [0, 1], [0, 0]]);
      return tf.sum(tf.square(h4));
    };
    const grads = (...t: tf.Tensor[]) => tf.grads((...v: tf.Tensor[]) => net(v[0], v[1], v[2], v[3], v[4]))(t);
    const want = await on('cpu', [x, w1, w2, dw, w3], grads);
    const got = await on('wasm', [x, w1, w2, dw, w3], grads);
    for (const [i, g] of want.entries()) expectClose(got[i], g, `gradient ${i}`);
  });

  it('leaks no tensors and no backend buffers across repeated calls', async () => {
    await use('wasm');
    const x = tf.randomNormal([4, 12, 12, 5]) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 5, 7]) as tf.Tensor4D;
    const d = tf.randomNormal([3, 3, 5, 2]) as tf.Tensor4D;
    const step = () => {
      const [gx, gw, gd] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.add(tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')), tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, c as tf.Tensor4D, 2, 'valid'))),
      )([x, w, d]);
      tf.dispose([gx, gw, gd]);
    };
    step();
    const backend = tf.engine().backend;
    const before = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
    for (let i = 0; i < 3; i++) step();
    expect({ tensors: tf.memory().numTensors, buffers: backend.numDataIds() }).toEqual(before);
    tf.dispose([x, w, d]);
  });
});
