#!/usr/bin/env node
/**
 * Issue 9 experiment: InfoNCE (NT-Xent) vs decoupled uniformity vs decoupled uniformity with a prior
 * (weak attributes; a frozen raw-pixel encoder), at several batch sizes with an equal budget of images
 * seen, on a Fashion-MNIST subset; kNN top-1 on a test subset. Sized for a 2-core CPU.
 *
 *   GENVIEW_BACKEND=wasm node tools/experiments/decoupled-uniformity.mjs [--seeds 0,1,2] [--batches 32,64,256] [--images 4096]
 *        [--train 10000] [--test 2000] [--methods infonce,du,du-attr,du-pixels] [--jobs 2] [--out runs/decoupled-uniformity] [--resume 1]
 *
 * Needs the packages built (npm run build, or tsup in core, views, backbones, eval, losses, runner).
 * Writes <out>/results.json (every run) and <out>/table.json (mean ± std per method and batch size).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventBus, Rng, selectBackend, tf } from '@genview/core';
import { cachedFeatures, extractFeatures, rawPixelFeatures } from '@genview/eval';
import { Trainer, attributeTablePrior, backboneFeatures, buildBackbone, createDecoupledFramework, createRegistry, tablePrior } from '@genview/runner';
import { pipelineFromRefs } from '@genview/views';

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  return out;
}
const args = parseArgs(process.argv.slice(2));
const list = (s, d) => (s ?? d).split(',').map((v) => v.trim()).filter(Boolean);
const seeds = list(args.seeds, '0,1,2').map(Number);
const batches = list(args.batches, '32,64,256').map(Number);
const methods = list(args.methods, 'infonce,du,du-attr,du-pixels');
const budgetImages = Number(args.images ?? 4096);
const trainCount = Number(args.train ?? 10000);
const testCount = Number(args.test ?? 2000);
const outDir = args.out ?? join('runs', `decoupled-uniformity-${new Date().toISOString().replace(/[:.]/g, '-')}`);
const widths = list(args.widths, '8,16,32').map(Number);
const lr = Number(args.lr ?? 2e-3);

// Fashion-MNIST classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
// 7 Sneaker, 8 Bag, 9 Ankle boot. The weak attribute: 0 = top (upper-body garment), 1 = footwear, 2 = other.
const COARSE = [0, 2, 0, 2, 0, 1, 0, 1, 2, 1];
/** Weight of the coarse-attribute match in the attribute kernel; the rest is the instance (identity) term. */
const ATTRIBUTE_WEIGHT = 0.5;

const log = (...a) => console.log(...a);
const backend = await selectBackend();
const registry = createRegistry();
const events = new EventBus();
const baseContext = { rng: new Rng(0), events };
const train = await registry.create('dataset', { name: 'fashion-mnist', split: 'train', limit: trainCount }, { ...baseContext, path: 'train' });
const test = await registry.create('dataset', { name: 'fashion-mnist', split: 'test', limit: testCount }, { ...baseContext, path: 'test' });
const shape = train.info.imageShape;
mkdirSync(outDir, { recursive: true });
log(`backend ${backend.chosen}; ${train.info.size} train / ${test.info.size} test images; budget ${budgetImages} images per run; out ${outDir}`);

// Augmentations for 28x28 grey images: crop, flip, brightness/contrast (no colour to jitter).
const viewRefs = [
  { name: 'random-resized-crop', size: 28, scale: [0.2, 1], ratio: [3 / 4, 4 / 3] },
  { name: 'horizontal-flip', p: 0.5 },
  { name: 'color-jitter', brightness: 0.4, contrast: 0.4, saturation: 0, hue: 0, p: 0.8 },
];
const views = () => [pipelineFromRefs(viewRefs, 'view1'), pipelineFromRefs(viewRefs, 'view2')];

// Priors, computed once. Weak attributes: [coarse group, sample id] compared by the 'attributes' kernel
// (match mode), K = w·[same group] + (1 − w)·I: a single 3-valued attribute alone has rank-3 K, whose
// conditional mean embedding would merge every sample of a group into one centroid and drop instance
// discrimination; the identity part keeps each sample its own centroid, pulled toward its group's.
const attrPrior = attributeTablePrior(Array.from(train.labels, (label, i) => [COARSE[label], i]));
// Frozen encoder: raw pixels; RBF bandwidth from the median pairwise distance (the usual heuristic).
const pixelSet = await extractFeatures(rawPixelFeatures(train), train, { batchSize: 512 });
const pixelPrior = tablePrior(pixelSet.features, pixelSet.dim);
const pixelSigma = (() => {
  const rng = new Rng(123);
  const d = [];
  for (let s = 0; s < 2000; s++) {
    const i = rng.int(pixelSet.features.length / pixelSet.dim);
    const j = rng.int(pixelSet.features.length / pixelSet.dim);
    if (i === j) continue;
    let acc = 0;
    for (let k = 0; k < pixelSet.dim; k++) acc += (pixelSet.features[i * pixelSet.dim + k] - pixelSet.features[j * pixelSet.dim + k]) ** 2;
    d.push(Math.sqrt(acc));
  }
  d.sort((a, b) => a - b);
  return d[Math.floor(d.length / 2)];
})();
log(`raw-pixel prior: dim ${pixelSet.dim}, RBF sigma (median distance) ${pixelSigma.toFixed(3)}`);

const knnEval = await registry.create('evaluator', { name: 'knn', k: [20] }, { ...baseContext, path: 'knn' });
const backboneRef = { name: 'small-cnn', widths };
const projectorRef = { name: 'mlp-projector', hiddenDim: 256, outDim: 64 };

async function buildFramework(method, seed) {
  const context = { rng: new Rng(seed).fork('model'), events, registry, path: 'framework' };
  const backbone = await buildBackbone(context, backboneRef, shape);
  const projector = await registry.create('head', { ...projectorRef, inDim: backbone.featureDim }, { ...context, path: 'framework.projector' });
  const lossRef = method === 'infonce' ? { name: 'nt-xent', temperature: 0.5 } : { name: 'decoupled-uniformity', t: 2 };
  const loss = await registry.create('loss', lossRef, { ...context, path: 'framework.loss' });
  let prior;
  if (method === 'du-attr') {
    prior = { features: attrPrior, kernel: await registry.create('kernel', { name: 'attributes', weights: [ATTRIBUTE_WEIGHT, 1 - ATTRIBUTE_WEIGHT] }, context) };
  } else if (method === 'du-pixels') {
    prior = { features: pixelPrior, kernel: await registry.create('kernel', { name: 'rbf', sigma: pixelSigma }, context) };
  }
  // The same wiring for every method (InfoNCE simply has no prior), so only the loss differs.
  return createDecoupledFramework({ backbone, projector, loss, prior });
}

async function knnTop1(encoder) {
  const result = await knnEval.evaluate(cachedFeatures(encoder), { train, test });
  return result.metrics['knn_top1@20'];
}

/** One seed at one batch size: every method, plus the random-encoder baseline once per seed. */
async function runUnit(seed, batchSize) {
  const runs = [];
  let baseline;
  if (batchSize === batches[0]) {
    const randomBackbone = await buildBackbone({ rng: new Rng(seed).fork('model'), events, registry, path: 'random' }, backboneRef, shape);
    baseline = { seed, encoder: 'random init (same architecture)', knnTop1: await knnTop1(backboneFeatures(randomBackbone)) };
    randomBackbone.dispose();
    log(`seed ${seed}: random encoder kNN top-1@20 ${(100 * baseline.knnTop1).toFixed(2)}%`);
  }
  const steps = Math.max(1, Math.round(budgetImages / batchSize));
  for (const method of methods) {
    const framework = await buildFramework(method, seed);
    const trainer = new Trainer({
      framework,
      data: train,
      views: views(),
      optimizer: { name: 'adamw', weightDecay: 1e-4 },
      // Adam at a fixed rate for every batch size (no linear scaling), short warm-up, cosine decay.
      learningRate: (step) => {
        const warm = Math.max(1, Math.round(0.05 * steps));
        return step < warm ? (lr * (step + 1)) / warm : lr * 0.5 * (1 + Math.cos((Math.PI * (step - warm)) / Math.max(1, steps - warm)));
      },
      totalSteps: steps,
      batchSize,
      seed,
      events,
    });
    const t0 = performance.now();
    const summary = await trainer.run();
    trainer.dispose();
    const top1 = await knnTop1(framework.encoder());
    framework.dispose();
    const seconds = (performance.now() - t0) / 1000;
    runs.push({ method, batchSize, seed, steps, imagesSeen: steps * batchSize, finalLoss: summary.finalLoss, knnTop1: top1, seconds });
    log(`${method.padEnd(10)} batch ${String(batchSize).padStart(3)} seed ${seed}: ${steps} steps, loss ${summary.finalLoss.toFixed(4)}, kNN top-1@20 ${(100 * top1).toFixed(2)}% (${seconds.toFixed(0)} s, ${tf.memory().numTensors} tensors live)`);
  }
  return { runs, baseline };
}

const unitDir = join(outDir, 'units');
mkdirSync(unitDir, { recursive: true });
const unitFile = (seed, batchSize) => join(unitDir, `seed-${seed}-batch-${batchSize}.json`);

if (args.worker) {
  // A child process of a --jobs run: one (seed, batch) unit, written to its own file.
  const [seed, batchSize] = args.worker.split(':').map(Number);
  writeFileSync(unitFile(seed, batchSize), `${JSON.stringify(await runUnit(seed, batchSize))}\n`);
  process.exit(0);
}

const started = performance.now();
const units = seeds.flatMap((seed) => batches.map((batchSize) => [seed, batchSize]));
// --resume 1 keeps the units an interrupted run already finished (their files are written whole).
const todo = args.resume ? units.filter(([seed, batchSize]) => !existsSync(unitFile(seed, batchSize))) : units;
const jobs = Math.max(1, Number(args.jobs ?? 2));
if (jobs === 1) {
  for (const [seed, batchSize] of todo) writeFileSync(unitFile(seed, batchSize), `${JSON.stringify(await runUnit(seed, batchSize))}\n`);
} else {
  // The tfjs backends here use well under one core per process on small batches, so independent
  // (seed, batch) units run as separate processes to keep both cores busy.
  const queue = [...todo];
  const forward = process.argv.slice(2).filter((_, i, a) => !['--jobs', '--out', '--resume'].includes(a[i - (i % 2)]));
  const worker = async () => {
    while (queue.length > 0) {
      const [seed, batchSize] = queue.shift();
      await new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [process.argv[1], ...forward, '--out', outDir, '--worker', `${seed}:${batchSize}`], { stdio: 'inherit' });
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`unit seed ${seed} batch ${batchSize} exited with ${code}`))));
      });
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
}
const runs = [];
const baselines = [];
for (const [seed, batchSize] of units) {
  const unit = JSON.parse(readFileSync(unitFile(seed, batchSize), 'utf8'));
  runs.push(...unit.runs);
  if (unit.baseline) baselines.push(unit.baseline);
}
writeFileSync(join(outDir, 'results.json'), `${JSON.stringify({ runs, baselines }, null, 2)}\n`);

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs) => (xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0);
const rows = [];
for (const method of methods) {
  for (const batchSize of batches) {
    const values = runs.filter((r) => r.method === method && r.batchSize === batchSize).map((r) => r.knnTop1);
    rows.push({ method, batchSize, seeds: values.length, knnTop1Mean: mean(values), knnTop1Std: std(values) });
  }
}
const table = {
  what: 'kNN top-1 (k=20, cosine, weighted votes T=0.07) of the frozen small-cnn backbone on Fashion-MNIST; std over seeds (sample std; 0 with one seed)',
  setup: {
    backend: backend.chosen,
    trainImages: train.info.size,
    testImages: test.info.size,
    budgetImagesPerRun: budgetImages,
    backbone: backboneRef,
    projector: projectorRef,
    optimizer: `adamw lr ${lr} (5% warm-up, cosine), weight decay 1e-4`,
    views: viewRefs,
    methods: {
      infonce: 'NT-Xent, temperature 0.5',
      du: 'decoupled uniformity, t = 2, no prior',
      'du-attr': `decoupled uniformity + weak-attribute prior: coarse group (top / footwear / other) from the class; kernel ${ATTRIBUTE_WEIGHT}·[same group] + ${1 - ATTRIBUTE_WEIGHT}·I; λ = 1/√batch`,
      'du-pixels': `decoupled uniformity + frozen raw-pixel prior; RBF σ = ${pixelSigma.toFixed(3)} (median distance); λ = 1/√batch`,
    },
    seeds,
    jobs,
  },
  baselines,
  rows,
  seconds: (performance.now() - started) / 1000,
};
writeFileSync(join(outDir, 'table.json'), `${JSON.stringify(table, null, 2)}\n`);
log('\nmethod      ' + batches.map((b) => `batch ${b}`.padStart(16)).join(''));
for (const method of methods) {
  const cells = batches.map((b) => {
    const r = rows.find((x) => x.method === method && x.batchSize === b);
    return `${(100 * r.knnTop1Mean).toFixed(2)} ± ${(100 * r.knnTop1Std).toFixed(2)}`.padStart(16);
  });
  log(`${method.padEnd(12)}${cells.join('')}`);
}
log(`\nwrote ${join(outDir, 'table.json')} (${table.seconds.toFixed(0)} s)`);
