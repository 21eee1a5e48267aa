// Runs examples/mcl-colored.ts from the workspace sources: bundles it with esbuild (workspace packages
// from src, tfjs-core's extensionless gradient registrations bundled, every other package external),
// then prints the table. Usage: node tools/experiments/mcl.mjs [--json] [--out result.json]
import { writeFileSync } from 'node:fs';
import { importExample } from './import-example.mjs';

const env = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);
const { main } = await importExample('mcl-colored');
const result = await main({
  steps: env('MCL_STEPS', 600),
  dataset: process.env.MCL_DATASET ?? 'colored-digits',
  stages: env('MCL_STAGES', 3),
  trainImages: env('MCL_TRAIN', 5000),
  testImages: env('MCL_TEST', 1000),
  size: env('MCL_SIZE', 16),
  seed: env('MCL_SEED', 0),
  colorNoise: env('MCL_COLOR_NOISE', 0.05),
  colorTarget: process.env.MCL_COLOR_TARGET ?? 'background',
  temperature: env('MCL_TEMPERATURE', 0.5),
  baselines: process.env.MCL_BASELINES !== '0',
  log: (line) => console.log(line),
});
const outAt = process.argv.indexOf('--out');
if (outAt > 0) writeFileSync(process.argv[outAt + 1], `${JSON.stringify(result, null, 2)}\n`);
if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`\nbackend ${result.backend}, ${result.seconds.toFixed(0)} s; ${result.setup}`);
  const pairFeatures = Object.keys(result.rows[0]?.pairs ?? {});
  const heads = [...result.features.map((f) => `${f} kNN`), ...pairFeatures.map((f) => `${f} pairs`)];
  console.log(`| encoder | ${heads.join(' | ')} |\n|---|${heads.map(() => '---|').join('')}`);
  const p = (x) => `${(100 * x).toFixed(1)}%`;
  for (const r of result.rows) console.log(`| ${r.encoder} | ${[...result.features.map((f) => p(r.knn[f])), ...pairFeatures.map((f) => p(r.pairs[f]))].join(' | ')} |`);
}
