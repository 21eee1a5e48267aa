#!/usr/bin/env node
/**
 * Issue 9 experiment: InfoNCE (NT-Xent) vs decoupled uniformity vs decoupled uniformity with a prior
 * (weak attributes; a frozen raw-pixel encoder; a frozen generative model's image encoder), at several
 * batch sizes with an equal budget of images seen, on Fashion-MNIST or coloured digits; kNN top-1 on a
 * test subset (and kNN for colour on coloured digits), alignment and uniformity of every trained encoder.
 * Sized for a 2-core CPU.
 *
 *   GENVIEW_BACKEND=wasm node tools/experiments/decoupled-uniformity.mjs [--dataset fashion-mnist|colored-digits]
 *        [--seeds 0,1,2] [--batches 32,64,256] [--images 4096] [--train 10000] [--test 2000]
 *        [--methods infonce,du,du-attr,du-pixels,du-gen] [--jobs 2] [--out runs/decoupled-uniformity] [--resume 1]
 *
 * Needs the packages built (npm run build, or tsup in core, views, backbones, eval, losses, model-tiny-unclip,
 * runner) and onnxruntime-node for du-gen. Writes, under <out>:
 *   runs/<method>-b<batch>-s<seed>/   one run as `genview train` writes it (metrics.jsonl, results.json, checkpoint)
 *   report.yaml                        the spec for `genview report --spec <out>/report.yaml --out <out>/report.html`
 *   results.json, table.json           every run, and mean ± std per method and batch size
 * --resume 1 keeps finished units and runs (a run is finished once its results.json exists).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventBus, Rng, selectBackend, tf, writeFileAtomic, backboneFeatures, buildBackbone } from '@genview/core';
import { rawPixelFeatures } from '@genview/eval';
import { Trainer, createDecoupledFramework, createRegistry, evaluateEncoder } from '@genview/runner';
import { pipelineFromRefs } from '@genview/views';
import { DATASETS, loadExperimentData } from './decoupled-uniformity/data.mjs';
import { ensureGenerativeCache, generativeCachePath, priorsFor } from './decoupled-uniformity/priors.mjs';
import { METHOD_LABELS, finishedRun, headline, reportSpec, runConfig, runDirName, writeReportSpec, writeRunResults } from './decoupled-uniformity/run-files.mjs';

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
const dataset = args.dataset ?? 'fashion-mnist';
const seeds = list(args.seeds, '0,1,2').map(Number);
const batches = list(args.batches, '32,64,256').map(Number);
const methods = list(args.methods, 'infonce,du,du-attr,du-pixels,du-gen');
const budgetImages = Number(args.images ?? 4096);
const trainCount = Number(args.train ?? 10000);
const testCount = Number(args.test ?? 2000);
const outDir = args.out ?? join('runs', `decoupled-uniformity-${new Date().toISOString().replace(/[:.]/g, '-')}`);
const widths = list(args.widths, '8,16,32').map(Number);
const lr = Number(args.lr ?? 2e-3);
const resume = Boolean(args.resume && args.resume !== '0');
if (!DATASETS.includes(dataset)) throw new Error(`--dataset must be one of ${DATASETS.join(', ')}, got ${dataset}`);
const unknown = methods.filter((m) => !(m in METHOD_LABELS));
if (unknown.length > 0) throw new Error(`unknown methods ${unknown.join(', ')}; use ${Object.keys(METHOD_LABELS).join(', ')}`);

const log = (...a) => console.log(...a);
const backend = await selectBackend();
const registry = createRegistry();
const events = new EventBus();
const baseContext = { rng: new Rng(0), events };
const data = await loadExperimentData(dataset, { trainCount, testCount, registry, context: baseContext });
const { train, test } = data;
const shape = train.info.imageShape;
mkdirSync(outDir, { recursive: true });
const generativePath = generativeCachePath(outDir, dataset, train);
const priorOf = priorsFor({ train, attribute: data.attribute, generativePath, events });

// Augmentations for 28x28 images: crop, flip, brightness/contrast. No saturation or hue jitter, so on
// coloured digits colour survives every view: a shortcut the colour prior makes explicit.
const viewRefs = [
  { name: 'random-resized-crop', size: 28, scale: [0.2, 1], ratio: [3 / 4, 4 / 3] },
  { name: 'horizontal-flip', p: 0.5 },
  { name: 'color-jitter', brightness: 0.4, contrast: 0.4, saturation: 0, hue: 0, p: 0.8 },
];
const views = () => [pipelineFromRefs(viewRefs, 'view1'), pipelineFromRefs(viewRefs, 'view2')];
const backboneRef = { name: 'small-cnn', widths };
const projectorRef = { name: 'mlp-projector', hiddenDim: 256, outDim: 64 };
const lossRefOf = (method) => (method === 'infonce' ? { name: 'nt-xent', temperature: 0.5 } : { name: 'decoupled-uniformity', t: 2 });
// Alignment is measured on test images paired with their horizontal flip, a transform every run trained with.
const evalConfig = (seed) => ({ seed, eval: { evaluators: [{ name: 'knn', k: [20] }, { name: 'align-uniform', transform: 'hflip' }] } });

async function buildFramework(method, seed) {
  const context = { rng: new Rng(seed).fork('model'), events, registry, path: 'framework' };
  const backbone = await buildBackbone(context, backboneRef, shape);
  const projector = await registry.create('head', { ...projectorRef, inDim: backbone.featureDim }, { ...context, path: 'framework.projector' });
  const loss = await registry.create('loss', lossRefOf(method), { ...context, path: 'framework.loss' });
  const prior = await priorOf(method);
  const kernel = prior && (await registry.create('kernel', prior.kernel, { ...context, path: 'framework.prior.kernel' }));
  // The same wiring for every method (InfoNCE simply has no prior), so only the loss and prior differ.
  return createDecoupledFramework({ backbone, projector, loss, prior: prior && { features: prior.features, kernel } });
}

/** The runner's evaluation of `genview train` (kNN, alignment/uniformity), plus kNN for each extra attribute. */
async function evaluate(name, encoder, seed) {
  const evaluation = await evaluateEncoder(name, encoder, { train, test }, evalConfig(seed), registry, events);
  for (const extra of data.extraLabels) {
    const knnOnly = { seed, eval: { evaluators: [{ name: 'knn', k: [20] }] } };
    const [knn] = (await evaluateEncoder(name, encoder, { train: extra.train, test: extra.test }, knnOnly, registry, events)).results;
    const metrics = Object.fromEntries(Object.entries(knn.metrics).map(([k, v]) => [`${extra.prefix}${k}`, v]));
    evaluation.results.push({ evaluator: `knn (${extra.name})`, metrics, description: `label = ${extra.name}: ${knn.description}` });
  }
  return evaluation;
}

/** The random-init encoder and raw pixels, measured once per seed (cached: every unit of the seed reuses them). */
async function baselinesFor(seed) {
  const path = join(outDir, 'baselines', `seed-${seed}.json`);
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8'));
  const randomBackbone = await buildBackbone({ rng: new Rng(seed).fork('model'), events, registry, path: 'random' }, backboneRef, shape);
  const baselines = [await evaluate('random encoder', backboneFeatures(randomBackbone), seed), await evaluate('raw pixels', rawPixelFeatures(train), seed)];
  randomBackbone.dispose();
  mkdirSync(join(outDir, 'baselines'), { recursive: true });
  // Atomic: two --jobs workers of the same seed may both measure it, and neither may read half a file.
  await writeFileAtomic(path, `${JSON.stringify(baselines)}\n`);
  log(`seed ${seed}: random encoder kNN top-1@20 ${(100 * headline(baselines[0]).knnTop1).toFixed(2)}%`);
  return baselines;
}

const learningRate = (steps) => (step) => {
  // Adam at a fixed rate for every batch size (no linear scaling), short warm-up, cosine decay.
  const warm = Math.max(1, Math.round(0.05 * steps));
  return step < warm ? (lr * (step + 1)) / warm : lr * 0.5 * (1 + Math.cos((Math.PI * (step - warm)) / Math.max(1, steps - warm)));
};

/** One method at one batch size and seed, trained and evaluated into its own run directory. */
async function trainRun(method, batchSize, seed, baselines) {
  const dir = join(outDir, runDirName(method, batchSize, seed));
  const done = resume ? finishedRun(dir) : undefined;
  if (done) return done;
  // The Trainer appends to metrics.jsonl, so an unfinished or earlier run's lines must not stay.
  rmSync(dir, { recursive: true, force: true });
  const steps = Math.max(1, Math.round(budgetImages / batchSize));
  // About 32 loss points per run whatever the batch size, for the report's curves.
  const logEvery = Math.max(1, Math.round(steps / 32));
  const framework = await buildFramework(method, seed);
  const trainer = new Trainer({ framework, data: train, views: views(), optimizer: { name: 'adamw', weightDecay: 1e-4 }, learningRate: learningRate(steps), totalSteps: steps, batchSize, seed, events, outDir: dir, backend: backend.chosen, logEvery });
  const t0 = performance.now();
  const summary = await trainer.run();
  trainer.dispose();
  const trained = await evaluate(METHOD_LABELS[method], framework.encoder(), seed);
  framework.dispose();
  const seconds = (performance.now() - t0) / 1000;
  const run = { method, batchSize, seed, steps, imagesSeen: steps * batchSize, finalLoss: summary.finalLoss, ...headline(trained), seconds, dir: runDirName(method, batchSize, seed) };
  const prior = await priorOf(method);
  const config = { seed, method, batchSize, dataset, trainImages: train.info.size, testImages: test.info.size, budgetImages, backend: backend.chosen, backbone: backboneRef, projector: projectorRef, loss: lossRefOf(method), prior: prior?.description ?? 'no prior', optimizer: `adamw lr ${lr} (5% warm-up, cosine), weight decay 1e-4`, views: viewRefs };
  await writeRunResults(dir, { config, totalSteps: steps, summary, evaluations: [trained, ...baselines], run });
  const pct = (v) => (v === undefined ? '' : `${(100 * v).toFixed(2)}%`);
  const colour = run.colorKnnTop1 === undefined ? '' : `, colour kNN ${pct(run.colorKnnTop1)}`;
  log(`${method.padEnd(10)} batch ${String(batchSize).padStart(3)} seed ${seed}: ${steps} steps, loss ${summary.finalLoss.toFixed(4)}, kNN top-1@20 ${pct(run.knnTop1)}${colour}, align ${run.align.toFixed(3)}, uniform ${run.uniform.toFixed(3)} (${seconds.toFixed(0)} s, ${tf.memory().numTensors} tensors live)`);
  return run;
}

/** One seed at one batch size: every method, with the seed's baselines. */
async function runUnit(seed, batchSize) {
  const baselines = await baselinesFor(seed);
  const runs = [];
  for (const method of methods) runs.push(await trainRun(method, batchSize, seed, baselines));
  return { runs, baselines: baselines.map((b) => ({ seed, encoder: b.encoder, ...headline(b) })) };
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

log(`backend ${backend.chosen}; ${data.describe}; budget ${budgetImages} images per run; out ${outDir}`);
// The caches are shared by the units of one invocation; a fresh one must not read another setup's.
if (!resume) for (const cache of ['baselines', 'priors']) rmSync(join(outDir, cache), { recursive: true, force: true });
const started = performance.now();
const units = seeds.flatMap((seed) => batches.map((batchSize) => [seed, batchSize]));
// --resume 1 keeps the units an interrupted run already finished (their files are written whole).
const todo = resume ? units.filter(([seed, batchSize]) => !existsSync(unitFile(seed, batchSize))) : units;
const jobs = Math.max(1, Number(args.jobs ?? 2));
// The generative prior is computed here once; workers read it from the cache.
if (todo.length > 0 && methods.includes('du-gen')) await ensureGenerativeCache(generativePath, train, events);
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
        const child = spawn(process.execPath, [process.argv[1], ...forward, '--out', outDir, ...(resume ? ['--resume', '1'] : []), '--worker', `${seed}:${batchSize}`], { stdio: 'inherit' });
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
  for (const b of unit.baselines) if (!baselines.some((x) => x.seed === b.seed && x.encoder === b.encoder)) baselines.push(b);
}
writeFileSync(join(outDir, 'results.json'), `${JSON.stringify({ runs, baselines }, null, 2)}\n`);

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs) => (xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0);
const columns = ['knnTop1', ...(data.extraLabels.length > 0 ? ['colorKnnTop1'] : []), 'align', 'uniform'];
const rows = [];
for (const method of methods) {
  for (const batchSize of batches) {
    const group = runs.filter((r) => r.method === method && r.batchSize === batchSize);
    const row = { method, batchSize, seeds: group.length };
    for (const c of columns) Object.assign(row, { [`${c}Mean`]: mean(group.map((r) => r[c])), [`${c}Std`]: std(group.map((r) => r[c])) });
    rows.push(row);
  }
}
// From the runs' own records, so a parent whose workers did all the work never builds a prior itself.
const priorDescriptions = Object.fromEntries(methods.map((m) => [m, runConfig(join(outDir, runDirName(m, batches[0], seeds[0]))).prior]));
const setup = {
  backend: backend.chosen,
  dataset: data.describe,
  trainImages: train.info.size,
  testImages: test.info.size,
  budgetImagesPerRun: budgetImages,
  backbone: backboneRef,
  projector: projectorRef,
  optimizer: `adamw lr ${lr} (5% warm-up, cosine), weight decay 1e-4`,
  views: viewRefs,
  methods: Object.fromEntries(methods.map((m) => [m, m === 'infonce' ? 'NT-Xent, temperature 0.5' : `decoupled uniformity, t = 2, λ = 1/√batch; ${priorDescriptions[m]}`])),
  seeds,
  jobs,
};
const table = {
  what:
    `kNN top-1 (k=20, cosine, weighted votes T=0.07) of the frozen small-cnn backbone for the ${data.label}` +
    `${data.extraLabels.map((e) => ` and for ${e.name}`).join('')}; alignment / uniformity (Wang & Isola, t=2) on test images paired with their flip; std over seeds (sample std; 0 with one seed)`,
  setup,
  baselines,
  rows,
  seconds: (performance.now() - started) / 1000,
};
writeFileSync(join(outDir, 'table.json'), `${JSON.stringify(table, null, 2)}\n`);
const notes = [
  `${METHOD_LABELS.infonce} against decoupled uniformity (DU, Dufumier et al. 2023) with and without priors, at batch sizes ${batches.join(', ')} and an equal budget of ${budgetImages} images seen per run; seeds ${seeds.join(', ')}. Data: ${data.describe}.`,
  ...methods.map((m) => `${METHOD_LABELS[m]}: ${setup.methods[m]}.`),
  `Encoder small-cnn [${widths.join(', ')}], projector MLP 256 → 64; ${setup.optimizer}; views: random resized crop (scale 0.2–1), horizontal flip, brightness/contrast jitter (backend ${backend.chosen}).`,
  `Metrics: kNN top-1 for the ${data.label}${data.extraLabels.map((e) => ` and for ${e.name} (${e.prefix}knn_top1@20)`).join('')}; align and uniform of the frozen backbone features (lower is better for both).`,
].join('\n\n');
const spec = reportSpec({ title: `Decoupled uniformity with priors: ${dataset}`, methods, batches, seeds, extraLabels: data.extraLabels, notes });
await writeReportSpec(join(outDir, 'report.yaml'), spec);

log(`\nkNN top-1@20 (${data.label})\nmethod      ${batches.map((b) => `batch ${b}`.padStart(16)).join('')}`);
for (const method of methods) {
  const cells = batches.map((b) => {
    const r = rows.find((x) => x.method === method && x.batchSize === b);
    return `${(100 * r.knnTop1Mean).toFixed(2)} ± ${(100 * r.knnTop1Std).toFixed(2)}`.padStart(16);
  });
  log(`${method.padEnd(12)}${cells.join('')}`);
}
log(`\nwrote ${join(outDir, 'table.json')} and ${join(outDir, 'report.yaml')} (${table.seconds.toFixed(0)} s)`);
