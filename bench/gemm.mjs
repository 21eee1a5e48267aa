// GEMM benchmark of the native rung: tf.matMul on the 'genview-native' backend (its BatchMatMul
// kernel, the same call path as every convolution and dense layer) with each GEMM this build can run,
// and the ratio of each against a reference measured in the same run: OpenBLAS when the addon links
// it, else the portable 'generic' kernel.
//
//   npm run bench:gemm
//   node bench/gemm.mjs --threads 1 --reps 5
//
// Shapes are the ones the training step runs: a square product, the small CNN's first im2col conv
// (forward and the filter gradient's transposed-A product) and a dense layer.
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    reps: { type: 'string', default: '7' },
  },
});

const SHAPES = [
  { name: 'square 1024', m: 1024, n: 1024, k: 1024, transposeA: false },
  { name: 'conv forward (im2col)', m: 50176, n: 64, k: 288, transposeA: false },
  { name: 'conv filter gradient (A^T)', m: 288, n: 64, k: 50176, transposeA: true },
  { name: 'dense 512x512x128', m: 512, n: 512, k: 128, transposeA: false },
];

const { tf, selectBackend } = await import('@genview/core');
const native = await import('@genview/backend-native');
const report = await selectBackend({ force: 'native' });
if (report.chosen !== 'native') throw new Error(`bench:gemm needs the native rung; the ladder chose ${report.chosen}.`);
native.setNativeThreads(Number(opts.threads));
await tf.ready();
const info = native.nativeBackendInfo();
const impls = info.gemmImplementations;
const reference = impls.includes('openblas') ? 'openblas' : 'generic';

function gflops(shape, impl) {
  native.selectNativeGemm(impl);
  const a = shape.transposeA ? tf.randomNormal([shape.k, shape.m]) : tf.randomNormal([shape.m, shape.k]);
  const b = tf.randomNormal([shape.k, shape.n]);
  // Not tf.tidy(() => c.dataSync()): tidy walks the returned typed array element by element.
  const once = () => {
    const c = tf.matMul(a, b, shape.transposeA, false);
    c.dataSync();
    c.dispose();
  };
  once();
  const times = [];
  for (let r = 0; r < Number(opts.reps); r++) {
    const t0 = performance.now();
    once();
    times.push(performance.now() - t0);
  }
  tf.dispose([a, b]);
  // The best of several: the machine's other load only ever adds time.
  const best = Math.min(...times) / 1000;
  return (2 * shape.m * shape.n * shape.k) / best / 1e9;
}

console.log(`native GEMMs: ${impls.join(', ')} (auto picked ${info.gemm}); threads ${opts.threads}; reference ${reference}`);
const rows = [];
for (const shape of SHAPES) {
  const row = { shape: shape.name };
  for (const impl of impls) row[impl] = gflops(shape, impl);
  rows.push(row);
}
native.selectNativeGemm(info.gemm);

const pad = (s, w) => String(s).padEnd(w);
console.log(`\n${pad('shape (GFLOP/s, x = ratio to ' + reference + ')', 40)}${impls.map((i) => pad(i, 18)).join('')}`);
for (const row of rows) {
  const cells = impls.map((i) => pad(`${row[i].toFixed(0)} (${(row[i] / row[reference]).toFixed(2)}x)`, 18));
  console.log(`${pad(row.shape, 40)}${cells.join('')}`);
}
