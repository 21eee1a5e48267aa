// Times GenView's wasm training kernels: Conv2DBackpropInput stock vs ours, our Conv2DBackpropFilter,
// and a full train step (forward + backward + SGD) of a 4-conv CNN (32-64-128-256, 3x3, BN+ReLU,
// 28x28x1, batch 256) with our kernels and with the stock Conv2DBackpropInput swapped back in.
//   node bench/wasm-kernels.mjs [--batch 256] [--steps 3] [--reps 3]
//   node bench/wasm-kernels.mjs --survey   runs forward + backward of the ops SSL training uses on wasm and
//                                          lists missing kernels and mismatches against cpu
// @genview/core is bundled from its sources with esbuild first, so no build step is needed.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opts } = parseArgs({
  options: { survey: { type: 'boolean', default: false }, batch: { type: 'string', default: '256' }, steps: { type: 'string', default: '3' }, reps: { type: 'string', default: '3' } },
});
const BATCH = Number(opts.batch);
const STEPS = Number(opts.steps);
const REPS = Number(opts.reps);

async function loadCore() {
  const outfile = join(root, 'node_modules/.cache/genview-bench/core.mjs');
  mkdirSync(dirname(outfile), { recursive: true });
  // Packages stay external (one tfjs-core instance), except tfjs-core's gradient registrations, which
  // only exist as extensionless ESM; tsup bundles them into the published build the same way.
  const externals = {
    name: 'externals',
    setup(build) {
      build.onResolve({ filter: /^[@a-z]/ }, (args) =>
        args.path.startsWith('@tensorflow/tfjs-core/dist/register_all_gradients') ? undefined : { path: args.path, external: true },
      );
    },
  };
  await esbuild.build({
    entryPoints: [join(root, 'packages/core/src/index.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    plugins: [externals],
    logLevel: 'error',
  });
  return import(pathToFileURL(outfile).href);
}

const core = await loadCore();
const { tf, selectBackend } = core;
if (opts.survey) {
  await survey();
  process.exit(0);
}
await import('@tensorflow/tfjs-backend-wasm');
// The stock kernel is kept before GenView replaces it; activating wasm first runs its setup.
const stockDx = tf.getKernel('Conv2DBackpropInput', 'wasm');
await tf.setBackend('wasm');
await selectBackend({ force: 'wasm' });
const oursDx = tf.getKernel('Conv2DBackpropInput', 'wasm');
const oursDw = tf.getKernel('Conv2DBackpropFilter', 'wasm');
const backend = tf.backend();

function time(fn, reps = REPS) {
  fn();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t0) / reps;
}

function runKernel(config, inputs, attrs) {
  const out = config.kernelFunc({ inputs, backend, attrs });
  backend.disposeData(out.dataId);
}

const fmt = (ms) => `${ms.toFixed(1).padStart(8)} ms`;
console.log(`tfjs ${tf.version_core}, backend ${tf.getBackend()}, batch ${BATCH}, node ${process.version}`);
console.log('\nPer-layer kernels (the three strided convs whose dx backprop needs, and the filter gradients):');
const layers = [
  { name: 'conv1  1->32  s1 28x28', x: [BATCH, 28, 28, 1], f: [3, 3, 1, 32], s: 1 },
  { name: 'conv2 32->64  s2 28x28', x: [BATCH, 28, 28, 32], f: [3, 3, 32, 64], s: 2 },
  { name: 'conv3 64->128 s2 14x14', x: [BATCH, 14, 14, 64], f: [3, 3, 64, 128], s: 2 },
  { name: 'conv4 128->256 s2 7x7 ', x: [BATCH, 7, 7, 128], f: [3, 3, 128, 256], s: 2 },
];
const totals = { fwd: 0, stock: 0, ours: 0, dw: 0 };
for (const l of layers) {
  const x = tf.randomNormal(l.x);
  const f = tf.randomNormal(l.f);
  const y = tf.conv2d(x, f, l.s, 'same');
  const dy = tf.randomNormal(y.shape);
  const dxAttrs = { strides: l.s, pad: 'same', dataFormat: 'NHWC', inputShape: l.x };
  const dwAttrs = { strides: l.s, pad: 'same', dataFormat: 'NHWC', filterShape: l.f };
  const fwd = time(() => tf.dispose(tf.conv2d(x, f, l.s, 'same')));
  const dw = time(() => runKernel(oursDw, { x, dy }, dwAttrs));
  let stock = Number.NaN;
  let ours = Number.NaN;
  if (l.f[2] > 1) {
    ours = time(() => runKernel(oursDx, { dy, filter: f }, dxAttrs));
    stock = time(() => runKernel(stockDx, { dy, filter: f }, dxAttrs), 1);
    totals.stock += stock;
    totals.ours += ours;
  }
  totals.fwd += fwd;
  totals.dw += dw;
  console.log(`  ${l.name}  Conv2D ${fmt(fwd)}  dW ours ${fmt(dw)}  dx stock ${fmt(stock)}  dx ours ${fmt(ours)}  (x${(stock / ours).toFixed(1)})`);
  tf.dispose([x, f, y, dy]);
}
console.log(`  total                   Conv2D ${fmt(totals.fwd)}  dW ours ${fmt(totals.dw)}  dx stock ${fmt(totals.stock)}  dx ours ${fmt(totals.ours)}  (x${(totals.stock / totals.ours).toFixed(1)})`);

// The train-step model: conv (same pad) + batch norm with batch statistics + ReLU, global average
// pool, linear head, softmax cross-entropy, plain SGD.
const widths = [32, 64, 128, 256];
const strides = [1, 2, 2, 2];
const params = [];
let cin = 1;
for (const c of widths) {
  params.push({
    w: tf.variable(tf.randomNormal([3, 3, cin, c], 0, Math.sqrt(2 / (9 * cin)))),
    gamma: tf.variable(tf.ones([c])),
    beta: tf.variable(tf.zeros([c])),
  });
  cin = c;
}
const head = tf.variable(tf.randomNormal([256, 10], 0, 0.05));
const vars = [...params.flatMap((p) => [p.w, p.gamma, p.beta]), head];
const images = tf.randomUniform([BATCH, 28, 28, 1]);
const labels = tf.oneHot(tf.randomUniform([BATCH], 0, 10, 'int32'), 10);
const optimizer = tf.train.sgd(0.01);

function loss() {
  let h = images;
  params.forEach((p, i) => {
    h = tf.conv2d(h, p.w, strides[i], 'same');
    const { mean, variance } = tf.moments(h, [0, 1, 2]);
    h = tf.relu(tf.batchNorm(h, mean, variance, p.beta, p.gamma, 1e-5));
  });
  const logits = tf.matMul(tf.mean(h, [1, 2]), head);
  return tf.losses.softmaxCrossEntropy(labels, logits);
}

function trainStep() {
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(loss, vars);
    optimizer.applyGradients(grads);
    value.dataSync();
  });
}

function timeSteps(label) {
  const t0 = performance.now();
  trainStep();
  const first = performance.now() - t0;
  const ms = time(trainStep, STEPS);
  console.log(`  ${label}: ${fmt(ms)} / step, ${(BATCH / (ms / 1000)).toFixed(1)} img/s (first step ${first.toFixed(0)} ms)`);
  return ms;
}

console.log(`\nTrain step (forward + backward + SGD), batch ${BATCH}, mean of ${STEPS} steps after one warm-up:`);
const before = tf.memory().numTensors;
const oursMs = timeSteps('GenView kernels          ');
const leaked = tf.memory().numTensors - before;
tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
tf.registerKernel(stockDx);
const stockMs = timeSteps('stock Conv2DBackpropInput');
tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
tf.registerKernel(oursDx);
console.log(`  speed-up of the step from the new Conv2DBackpropInput: x${(stockMs / oursMs).toFixed(2)}; tensors leaked per run: ${leaked}`);

const profile = await tf.profile(() => trainStep());
const byKernel = new Map();
for (const k of profile.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
console.log(`\nPer-kernel profile of one step with GenView kernels (${total.toFixed(0)} ms of kernel time):`);
for (const [name, ms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 10)) {
  console.log(`  ${name.padEnd(28)} ${fmt(ms)}  ${((100 * ms) / total).toFixed(1).padStart(5)} %`);
}

/** Each probe builds its inputs from a seed and returns the loss and its gradients, to compare with cpu. */
function probes() {
  const r = (shape, seed) => tf.randomUniform(shape, -1, 1, 'float32', seed);
  const grad = (f, ...xs) => {
    const { value, grads } = tf.valueAndGrads(f)(xs);
    return [value, ...grads];
  };
  return {
    'batch norm (moments)': () => grad((x) => { const { mean, variance } = tf.moments(x, [0, 1, 2]); return tf.sum(tf.square(tf.batchNorm(x, mean, variance, tf.fill([3], 0.2), tf.fill([3], 1.5), 1e-5))); }, r([4, 5, 5, 3], 1)),
    'layer norm': () => grad((x) => { const { mean, variance } = tf.moments(x, -1, true); return tf.sum(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)))); }, r([4, 8], 2)),
    'GELU (erf)': () => grad((x) => tf.sum(tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))))), r([6, 7], 3)),
    'GELU (tanh)': () => grad((x) => tf.sum(tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(0.7978845608, tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))))), r([6, 7], 3)),
    'softmax / logSoftmax': () => grad((x) => tf.add(tf.sum(tf.mul(tf.softmax(x), x)), tf.sum(tf.logSoftmax(x))), r([5, 9], 4)),
    'logSumExp': () => grad((x) => tf.sum(tf.logSumExp(x, 1)), r([5, 9], 5)),
    'softmax cross-entropy': () => grad((x) => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d([1, 0, 3, 2, 4], 'int32'), 9), x), r([5, 9], 6)),
    'NT-Xent pieces (l2 normalize, matmul, mask)': () =>
      grad((z) => {
        const n = tf.div(z, tf.norm(z, 'euclidean', 1, true));
        const sim = tf.matMul(n, n, false, true);
        const masked = tf.where(tf.cast(tf.eye(6), 'bool'), tf.fill([6, 6], -1e9), sim);
        return tf.sum(tf.logSumExp(masked, 1));
      }, r([6, 4], 7)),
    'gather': () => grad((x) => tf.sum(tf.gather(x, tf.tensor1d([2, 0, 2, 1], 'int32'))), r([3, 4], 8)),
    'gatherND': () => grad((x) => tf.sum(tf.gatherND(x, tf.tensor2d([[0, 1], [2, 3]], [2, 2], 'int32'))), r([3, 4], 9)),
    'scatterND': () => [tf.scatterND(tf.tensor2d([[0], [2]], [2, 1], 'int32'), tf.tensor1d([3, 4]), [4])],
    'unsortedSegmentSum': () => grad((x) => tf.sum(tf.square(tf.unsortedSegmentSum(x, tf.tensor1d([0, 1, 0], 'int32'), 2))), r([3, 4], 10)),
    'mod / floorDiv': () => grad((x) => tf.sum(tf.add(tf.mod(x, 0.3), tf.floorDiv(x, 0.3))), r([4, 4], 11)),
    'cropAndResize': () => [tf.image.cropAndResize(r([2, 8, 8, 3], 12), tf.tensor2d([[0, 0, 0.5, 0.5], [0.2, 0.1, 0.9, 1]]), tf.tensor1d([0, 1], 'int32'), [4, 4])],
    'resizeBilinear': () => grad((x) => tf.sum(tf.square(tf.image.resizeBilinear(x, [6, 6]))), r([2, 4, 4, 3], 13)),
    'flipLeftRight / random crop slice': () => grad((x) => tf.sum(tf.square(tf.slice(tf.reverse(x, 2), [0, 1, 1, 0], [2, 3, 3, 3]))), r([2, 5, 5, 3], 14)),
    'maxPool': () => grad((x) => tf.sum(tf.square(tf.maxPool(x, 2, 2, 'same'))), r([2, 6, 6, 3], 15)),
    'avgPool valid': () => grad((x) => tf.sum(tf.square(tf.avgPool(x, 2, 2, 'valid'))), r([2, 6, 6, 3], 15)),
    'avgPool same (padded windows)': () => grad((x) => tf.sum(tf.square(tf.avgPool(x, 3, 1, 'same'))), r([2, 6, 6, 3], 15)),
    'global average pool + dense': () => grad((x, w) => tf.sum(tf.square(tf.matMul(tf.mean(x, [1, 2]), w))), r([2, 4, 4, 3], 16), r([3, 5], 17)),
    'conv2d stride 2 + depthwise': () => grad((x, w, d) => tf.sum(tf.square(tf.depthwiseConv2d(tf.conv2d(x, w, 2, 'same'), d, 1, 'same'))), r([2, 8, 8, 3], 18), r([3, 3, 3, 4], 19), r([3, 3, 4, 1], 20)),
    'conv2dTranspose': () => grad((x, w) => tf.sum(tf.square(tf.conv2dTranspose(x, w, [2, 8, 8, 3], 2, 'same'))), r([2, 4, 4, 5], 21), r([3, 3, 3, 5], 22)),
    'activations (elu, selu, leakyRelu, prelu, relu6, softplus, sigmoid)': () =>
      grad((x, a) => tf.sum(tf.addN([tf.elu(x), tf.selu(x), tf.leakyRelu(x, 0.1), tf.prelu(x, a), tf.relu6(tf.mul(x, 8)), tf.softplus(x), tf.sigmoid(x)])), r([4, 5], 23), r([5], 24)),
    'clip, abs, sqrt, pow, exp, log, minimum, maximum': () =>
      grad((x) => tf.sum(tf.addN([tf.clipByValue(x, -0.5, 0.5), tf.abs(x), tf.sqrt(tf.add(tf.abs(x), 1)), tf.pow(tf.abs(x), 1.5), tf.exp(x), tf.log(tf.add(x, 2)), tf.minimum(x, 0.1), tf.maximum(x, -0.1)])), r([4, 5], 25)),
    'concat / stack / split / tile / pad / mirrorPad': () =>
      grad((x) => { const [a, b] = tf.split(x, 2, 1); return tf.sum(tf.square(tf.addN([tf.concat([b, a], 1), tf.tile(tf.unstack(tf.stack([a, b]))[1], [1, 2]), tf.slice(tf.pad(x, [[1, 1], [0, 0]]), [1, 0], [4, 6]), tf.slice(tf.mirrorPad(x, [[1, 1], [0, 0]], 'reflect'), [1, 0], [4, 6])]))); }, r([4, 6], 26)),
    'cumsum, argMax, topk, oneHot': () => grad((x) => { tf.topk(x, 2); tf.oneHot(tf.argMax(x, 1), 6); return tf.sum(tf.square(tf.cumsum(x, 1))); }, r([4, 6], 27)),
    'max / min reductions': () => grad((x) => tf.add(tf.sum(tf.max(x, 1)), tf.sum(tf.min(x, 0))), r([4, 6], 28)),
    'prod reduction': () => grad((x) => tf.sum(tf.prod(x, 1)), r([4, 6], 28)),
    'einsum': () => [tf.einsum('ij,jk->ik', r([3, 4], 29), r([4, 2], 30))],
    'dropout': () => [tf.dropout(r([4, 6], 31), 0.5, undefined, 7)],
    'atan2 / sin / cos': () => grad((x, y) => tf.sum(tf.add(tf.atan2(x, y), tf.mul(tf.sin(x), tf.cos(y)))), r([4, 6], 32), r([4, 6], 33)),
  };
}

async function survey() {
  const results = {};
  for (const backendName of ['cpu', 'wasm']) {
    await selectBackend({ force: backendName });
    for (const [name, probe] of Object.entries(probes())) {
      try {
        const outs = tf.tidy(probe);
        results[name] ??= {};
        results[name][backendName] = outs.map((t) => t.dataSync().slice());
        tf.dispose(outs);
      } catch (error) {
        results[name] ??= {};
        results[name][backendName] = String(error?.message ?? error).split('\n')[0];
      }
    }
  }
  const missing = new Set();
  for (const [name, { cpu, wasm }] of Object.entries(results)) {
    let status;
    if (typeof wasm === 'string') {
      status = `FAIL  ${wasm}`;
      const m = /kernel '(\w+)' not registered|'(\w+)' not yet implemented/.exec(wasm);
      if (m) missing.add(m[1] ?? m[2]);
    } else if (typeof cpu === 'string') status = `ok on wasm (cpu failed: ${cpu})`;
    else {
      let worst = 0;
      for (const [i, c] of cpu.entries()) {
        for (const [j, v] of c.entries()) worst = Math.max(worst, Math.abs(v - wasm[i][j]) / Math.max(1, Math.abs(v)));
      }
      status = worst < 1e-3 || name === 'dropout' ? 'ok' : `MISMATCH vs cpu (rel ${worst.toExponential(1)})`;
    }
    console.log(`${name.padEnd(66)} ${status}`);
  }
  const wasmKernels = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
  const cpuOnly = tf.getKernelsForBackend('cpu').map((k) => k.kernelName).filter((k) => !wasmKernels.has(k));
  console.log(`\nmissing kernels hit: ${[...missing].join(', ') || 'none'}`);
  console.log(`kernels cpu has and wasm lacks: ${cpuOnly.sort().join(', ')}`);
}
