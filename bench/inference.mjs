// Encoder inference: GenView's backbones (@genview/backbones, eval mode: batch norm folded into fused
// convolutions) on the best TensorFlow.js rung vs onnxruntime-node on the same architecture with the
// same weights, at the same thread count.
//
//   node bench/inference.mjs                                 both models, 1 and 2 threads
//   node bench/inference.mjs --models small-cnn --threads 2 --iters 3 --warmup 1
//   node bench/inference.mjs --rebuild                       re-make the cached weights and ONNX files
//
// Weights: a seeded backbone with random batch-norm statistics and affine parameters (so the folding is
// exercised), saved as safetensors; bench/export_encoder_onnx.py (Debian python3-torch) loads them into
// bench/train_step_torch.py's torch model and exports its encoder to ONNX. Both files are cached under
// node_modules/.cache/genview/bench/. Each (model, threads) runs in a child process with OpenBLAS, our
// loops and onnxruntime's intra-op pool at that many threads; each engine gets its own warm-up, excluded
// from the timings. Outputs of the two engines on the same batch are compared (max abs diff).
// Exit code: 0 when every comparison agrees, 1 on a mismatch or a failed run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE = join(ROOT, 'node_modules', '.cache', 'genview', 'bench');
const PREFIX = 'encoder';
// Bump when the weight recipe or the export changes: cached files of an older version are not reused.
const VERSION = 'v1';
const MODELS = {
  'small-cnn': { batch: 256, shape: [28, 28, 1], iters: 20, warmup: 3 },
  resnet18: { batch: 64, shape: [32, 32, 3], iters: 8, warmup: 2 },
};
/** Relative tolerance (max abs diff / max |output|) for "the two engines compute the same function". */
const TOLERANCE = 1e-4;

const { values: opts } = parseArgs({
  options: {
    child: { type: 'boolean', default: false },
    models: { type: 'string', default: 'small-cnn,resnet18' },
    model: { type: 'string', default: '' },
    threads: { type: 'string', default: '1,2' },
    rung: { type: 'string', default: '' },
    batch: { type: 'string', default: '' },
    iters: { type: 'string', default: '' },
    warmup: { type: 'string', default: '' },
    rebuild: { type: 'boolean', default: false },
  },
});

function files(model) {
  const base = join(CACHE, `${model}-encoder-${VERSION}`);
  return { weights: `${base}.safetensors`, onnx: `${base}.onnx` };
}

async function createBackbone(model, initialize) {
  const { Rng } = await import('@genview/core');
  const { createResNet, createSmallCnn } = await import('@genview/backbones');
  const rng = new Rng(1);
  return model === 'resnet18'
    ? createResNet({ depth: 18, stem: 'cifar', inChannels: 3, rng, initialize })
    : createSmallCnn({ inChannels: 1, rng, initialize });
}

/** Seeded weights: the backbone's init, then random batch-norm scales, shifts and running statistics. */
async function makeWeights(model, path) {
  const { tf, selectBackend, Rng } = await import('@genview/core');
  const { getWeights, saveWeights, setWeights } = await import('@genview/backbones');
  await selectBackend({ force: 'cpu' });
  const backbone = await createBackbone(model, true);
  const modules = { [PREFIX]: backbone };
  const rng = new Rng(2);
  const weights = getWeights(modules);
  for (const [key, w] of Object.entries(weights)) {
    // Every rank-1 weight here is batch norm's: scale and running variance near 1, shift and mean near 0.
    if (w.shape.length !== 1) continue;
    const [lo, hi] = key.endsWith('.weight') || key.endsWith('.running_var') ? [0.5, 1.5] : [-0.2, 0.2];
    for (let i = 0; i < w.data.length; i++) w.data[i] = rng.uniform(lo, hi);
  }
  setWeights(modules, weights);
  mkdirSync(dirname(path), { recursive: true });
  await saveWeights(path, modules, { 'genview.bench': `inference ${model} ${VERSION}` });
  backbone.dispose();
  tf.disposeVariables();
}

async function prepare(model) {
  const f = files(model);
  if (opts.rebuild || !existsSync(f.weights)) {
    await makeWeights(model, f.weights);
    console.log(`wrote ${f.weights}`);
  }
  if (opts.rebuild || !existsSync(f.onnx) || statSync(f.onnx).mtimeMs < statSync(f.weights).mtimeMs) {
    const script = fileURLToPath(new URL('./export_encoder_onnx.py', import.meta.url));
    const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    try {
      const out = execFileSync(python, [script, '--model', model, '--weights', f.weights, '--prefix', PREFIX, '--out', f.onnx], {
        encoding: 'utf8',
        env: { ...process.env, OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      console.log(out.trim());
    } catch (error) {
      const msg = String(error.stderr || error.message).trim().split('\n').slice(-2).join(' | ');
      throw new Error(`ONNX export of ${model} failed: ${msg} (needs Debian python3-torch: apt-get install python3-torch)`);
    }
  }
  return f;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs fn warmup + iters times; the timed part is wall time per call (median and mean) and CPU time. */
async function time(fn, warmup, iters) {
  for (let i = 0; i < warmup; i++) await fn();
  const ms = [];
  const c0 = process.cpuUsage();
  let out;
  for (let i = 0; i < iters; i++) {
    const t = performance.now();
    out = await fn();
    ms.push(performance.now() - t);
  }
  const cpu = process.cpuUsage(c0);
  return { medianMs: median(ms), meanMs: ms.reduce((a, b) => a + b, 0) / ms.length, cpuMs: (cpu.user + cpu.system) / 1000 / iters, out };
}

async function child() {
  const { tf, selectBackend } = await import('@genview/core');
  const { loadWeights } = await import('@genview/backbones');
  const { makeRng } = await import('./models.mjs');
  const ort = await import('onnxruntime-node');
  const model = opts.model;
  const spec = MODELS[model];
  const threads = Number(opts.threads);
  const batch = Number(opts.batch || spec.batch);
  const iters = Number(opts.iters || spec.iters);
  const warmup = Number(opts.warmup || spec.warmup);
  const f = files(model);

  const report = await selectBackend(opts.rung ? { force: opts.rung } : {});
  if (report.chosen === 'native') (await import('@genview/backend-native')).setNativeThreads(threads);
  await tf.ready();
  const backbone = await createBackbone(model, false);
  await loadWeights(f.weights, { [PREFIX]: backbone });

  const [h, w, c] = spec.shape;
  const nhwc = new Float32Array(batch * h * w * c);
  const rng = makeRng(11);
  for (let i = 0; i < nhwc.length; i++) nhwc[i] = rng() + 0.5;
  const nchw = new Float32Array(nhwc.length);
  for (let n = 0; n < batch; n++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) nchw[((n * c + k) * h + y) * w + x] = nhwc[((n * h + y) * w + x) * c + k];

  const input = tf.tensor4d(nhwc, [batch, h, w, c]);
  const evalMode = { training: false };
  const ours = await time(
    () => {
      const y = backbone.apply(input, evalMode);
      const data = y.dataSync().slice();
      y.dispose();
      return data;
    },
    warmup,
    iters,
  );
  const oursRss = process.resourceUsage().maxRSS / 1024;

  const session = await ort.InferenceSession.create(f.onnx, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = { images: new ort.Tensor('float32', nchw, [batch, c, h, w]) };
  const theirs = await time(
    async () => {
      const r = await session.run(feeds);
      return r.features.data;
    },
    warmup,
    iters,
  );
  await session.release?.();

  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < ours.out.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(ours.out[i] - theirs.out[i]));
    maxAbs = Math.max(maxAbs, Math.abs(theirs.out[i]));
  }
  const sizesMatch = ours.out.length === theirs.out.length;
  const result = {
    model,
    rung: report.chosen,
    backend: tf.getBackend(),
    threads,
    batch,
    iters,
    warmup,
    ours: { medianMs: ours.medianMs, meanMs: ours.meanMs, cpuMs: ours.cpuMs, peakRssMb: oursRss },
    ort: { medianMs: theirs.medianMs, meanMs: theirs.meanMs, cpuMs: theirs.cpuMs },
    maxDiff: sizesMatch ? maxDiff : Number.NaN,
    maxAbs,
    outputs: `${ours.out.length} vs ${theirs.out.length}`,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

function runChild(model, threads) {
  const argv = [fileURLToPath(import.meta.url), '--child', '--model', model, '--threads', String(threads)];
  for (const key of ['rung', 'batch', 'iters', 'warmup']) if (opts[key]) argv.push(`--${key}`, opts[key]);
  const t = String(threads);
  const env = { ...process.env, OPENBLAS_NUM_THREADS: t, GENVIEW_NATIVE_THREADS: t, OMP_NUM_THREADS: t };
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', env, maxBuffer: 64 << 20 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) {
    const why = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
    return { model, threads, error: why || `exit ${r.status}` };
  }
  return JSON.parse(line.slice(7));
}

async function main() {
  const models = opts.models.split(',').filter(Boolean);
  const threadCounts = opts.threads.split(',').map(Number);
  for (const m of models) if (!MODELS[m]) throw new Error(`unknown model ${m}; use ${Object.keys(MODELS).join(', ')}`);
  const rows = [];
  for (const model of models) {
    try {
      await prepare(model);
    } catch (error) {
      rows.push({ model, threads: '-', error: error.message });
      continue;
    }
    for (const threads of threadCounts) rows.push(runChild(model, threads));
  }
  const pad = (s, n) => String(s).padEnd(n);
  const ips = (batch, ms) => ((batch * 1000) / ms).toFixed(1);
  console.log('Encoder inference (eval mode, forward only, features after global average pooling); same weights in both engines.');
  console.log('ours = @genview/backbones on the best tfjs rung; ort = onnxruntime-node CPU, intraOpNumThreads = threads, interOp 1.');
  console.log('ms/batch is the median over the timed iterations (warm-up excluded); ratio = ours ms / ort ms (> 1: ours slower);');
  console.log('cpu ms is user+sys CPU time per batch: on a shared machine it shows the work done when wall time is noisy.');
  console.log(
    `${pad('model', 10)} ${pad('thr', 4)} ${pad('batch', 6)} ${pad('rung', 7)} ${pad('ours ms', 9)} ${pad('ours img/s', 11)} ${pad('ours cpu', 9)} ` +
      `${pad('ort ms', 9)} ${pad('ort img/s', 10)} ${pad('ort cpu', 9)} ${pad('ratio', 6)} max abs diff`,
  );
  let ok = true;
  for (const r of rows) {
    if (r.error) {
      ok = false;
      console.log(`${pad(r.model, 10)} ${pad(r.threads, 4)} failed: ${r.error}`);
      continue;
    }
    const rel = r.maxDiff / Math.max(r.maxAbs, 1e-12);
    const agree = rel <= TOLERANCE;
    if (!agree) ok = false;
    console.log(
      `${pad(r.model, 10)} ${pad(r.threads, 4)} ${pad(r.batch, 6)} ${pad(r.rung, 7)} ${pad(r.ours.medianMs.toFixed(1), 9)} ${pad(ips(r.batch, r.ours.medianMs), 11)} ` +
        `${pad(r.ours.cpuMs.toFixed(0), 9)} ${pad(r.ort.medianMs.toFixed(1), 9)} ${pad(ips(r.batch, r.ort.medianMs), 10)} ${pad(r.ort.cpuMs.toFixed(0), 9)} ` +
        `${pad((r.ours.medianMs / r.ort.medianMs).toFixed(2), 6)} ${r.maxDiff.toExponential(2)} (max |y| ${r.maxAbs.toFixed(3)}, ${agree ? 'agree' : `MISMATCH > ${TOLERANCE} relative`})`,
    );
  }
  process.exit(ok ? 0 : 1);
}

if (opts.child) await child();
else await main();
