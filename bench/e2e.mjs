// End-to-end benchmark of the product: `genview train` (the CLI a user runs: data, augmentations,
// Trainer, optimizer, checkpoints, evaluation) against its PyTorch twin (bench/e2e_torch.py: the same
// recipe, data, augmentations and batch, torchvision transforms in a DataLoader) in the same run.
//
//   npm run bench:e2e                           both recipes, 60 steps each
//   node bench/e2e.mjs --recipes reference --steps 100
//   node bench/e2e.mjs --full                   and the demo exactly as the README runs it, timed
//
// Recipes:
//   reference  bench/configs/simclr-reference.yaml (Adam 1e-3, constant rate, no blur). genview trains
//              --steps steps; the twin then trains for the same wall time, and both report kNN@20.
//   demo       examples/configs/simclr-fashion-mnist.yaml (LARS, cosine, blur) cut to --steps steps
//              on both sides (the schedule laid out over them), kNN@20 at equal steps.
// Source images/s = steps x batch / training seconds (each side times its own loop; start-up, data
// decoding and evaluation are outside it). user/sys are the CPU seconds of that loop, all threads
// and (PyTorch) the DataLoader workers. Needs python3-torch and python3-torchvision: the script
// installs them with apt when it runs as root and they are missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    recipes: { type: 'string', default: 'reference,demo' },
    steps: { type: 'string', default: '60' },
    threads: { type: 'string', default: '2' },
    workers: { type: 'string', default: '1' },
    full: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'packages/runner/dist/cli.js');
const PYTHON = '/usr/bin/python3';
const CONFIGS = {
  reference: join(root, 'bench/configs/simclr-reference.yaml'),
  demo: join(root, 'examples/configs/simclr-fashion-mnist.yaml'),
};

function torchReady() {
  return spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0;
}

function ensureTorch() {
  if (torchReady()) return true;
  if (process.getuid?.() !== 0) return false;
  console.log('installing python3-torch and python3-torchvision (apt) for the PyTorch twin...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  spawnSync('apt-get', ['install', '-y', '-qq', 'python3-torch', 'python3-torchvision'], { stdio: 'inherit', env });
  return torchReady();
}

const threadEnv = () => ({
  ...process.env,
  GENVIEW_NATIVE_THREADS: opts.threads,
  OPENBLAS_NUM_THREADS: opts.threads,
  OMP_NUM_THREADS: opts.threads,
});

/** `genview train` as a user runs it, with the eval cut to kNN@20 (unless `full`); returns results.json. */
function runGenview(recipe, { full = false } = {}) {
  const outDir = mkdtempSync(join(tmpdir(), `genview-e2e-${recipe}-`));
  const sets = [`outDir=${outDir}`];
  if (!full) {
    sets.push(`trainer.steps=${opts.steps}`, 'eval.evaluators=[{name: knn, k: [20]}]', 'eval.baselines=false');
  }
  const args = [cli, 'train', '--config', CONFIGS[recipe], '--plain', ...sets.flatMap((s) => ['--set', s])];
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: threadEnv(), maxBuffer: 64 << 20 });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`genview train (${recipe}) failed:\n${(r.stderr || r.stdout).trim().split('\n').slice(-8).join('\n')}`);
  const results = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8'));
  if (!opts.keep) rmSync(outDir, { recursive: true, force: true });
  const backend = (r.stderr.match(/^backend: (\S+)/m) ?? [])[1] ?? results.backend?.chosen;
  const trained = results.evaluations[0].results;
  const knn = trained.find((e) => e.evaluator === 'knn');
  const { summary } = results;
  return {
    side: 'genview',
    backend,
    steps: summary.steps,
    trainSeconds: summary.seconds,
    imagesPerSecond: (summary.steps * results.config.trainer.batchSize) / summary.seconds,
    userSeconds: summary.cpuUserSeconds,
    systemSeconds: summary.cpuSystemSeconds,
    knn20: knnAt(knn, 20),
    phaseSeconds: summary.phaseSeconds,
    results: trained,
    wallSeconds: wall,
  };
}

function knnAt(entry, k) {
  return entry?.metrics[`knn_top1@${k}`] ?? Number.NaN;
}

function runTorch(recipe, { seconds = 0 } = {}) {
  const { fashionMnistDir } = JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', "const m = await import('@genview/data-fashion-mnist'); console.log(JSON.stringify({ fashionMnistDir: m.fashionMnistDir }))"], {
      encoding: 'utf8',
      cwd: root,
    }),
  );
  const args = [
    join(root, 'bench/e2e_torch.py'),
    '--recipe', recipe,
    '--data-dir', fashionMnistDir,
    '--steps', opts.steps,
    '--threads', opts.threads,
    '--workers', opts.workers,
    '--knn',
    ...(seconds > 0 ? ['--seconds', String(seconds)] : []),
  ];
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: threadEnv(), maxBuffer: 64 << 20 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`the PyTorch twin (${recipe}) failed:\n${(r.stderr || r.stdout).trim().split('\n').slice(-8).join('\n')}`);
  return { side: 'pytorch', backend: `torch ${opts.threads} threads, ${opts.workers} loader worker(s)`, ...JSON.parse(line.slice(7)) };
}

const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

function printRecipe(recipe, ours, theirs, note) {
  console.log(`\n${recipe} recipe (${note})`);
  console.log('side      backend                               steps  train s   src img/s   user s   sys s   kNN@20');
  for (const r of [ours, theirs]) {
    console.log(
      `${r.side.padEnd(9)} ${String(r.backend).padEnd(37)} ${String(r.steps).padStart(5)} ${fmt(r.trainSeconds).padStart(8)} ${fmt(r.imagesPerSecond).padStart(11)} ${fmt(r.userSeconds).padStart(8)} ${fmt(r.systemSeconds).padStart(7)}   ${fmt(r.knn20 * 100, 1)} %`,
    );
  }
  console.log(`ratio genview / pytorch (source img/s): ${(ours.imagesPerSecond / theirs.imagesPerSecond).toFixed(2)}`);
  console.log(`genview's loop, ms per step: ${phaseLine(ours)}`);
}

function phaseLine(run) {
  return Object.entries(run.phaseSeconds)
    .filter(([, seconds]) => seconds > 0)
    .map(([phase, seconds]) => `${phase} ${((1000 * seconds) / run.steps).toFixed(0)}`)
    .join(' · ');
}

const haveTorch = ensureTorch();
if (!haveTorch) console.log('PyTorch twin skipped: python3-torch / python3-torchvision missing (apt-get install python3-torch python3-torchvision).');
console.log(`bench:e2e: ${opts.steps} steps of batch 256, ${opts.threads} threads, recipes ${opts.recipes}`);
for (const recipe of opts.recipes.split(',')) {
  if (!CONFIGS[recipe]) throw new Error(`unknown recipe '${recipe}'; use reference or demo.`);
  const ours = runGenview(recipe);
  if (!haveTorch) {
    console.log(`${recipe}: genview ${fmt(ours.imagesPerSecond)} src img/s on ${ours.backend}, kNN@20 ${fmt(ours.knn20 * 100)} %`);
    continue;
  }
  const theirs = recipe === 'reference' ? runTorch(recipe, { seconds: ours.trainSeconds }) : runTorch(recipe);
  printRecipe(recipe, ours, theirs, recipe === 'reference' ? `PyTorch trains for genview's ${fmt(ours.trainSeconds)} s` : `${opts.steps} steps each`);
}

if (opts.full) {
  console.log('\nthe demo as the README runs it (examples/configs/simclr-fashion-mnist.yaml, train + full evaluation):');
  const demo = runGenview('demo', { full: true });
  console.log(`  ${demo.backend}: ${fmt(demo.wallSeconds / 60, 2)} min wall (training ${fmt(demo.trainSeconds)} s at ${fmt(demo.imagesPerSecond)} src img/s)`);
  for (const r of demo.results) console.log(`  ${r.evaluator}: ${JSON.stringify(r.metrics)}`);
}
