// Runs examples/mcl-colored.ts from the workspace sources: bundles it with esbuild (workspace packages
// from src, tfjs-core's extensionless gradient registrations bundled, every other package external),
// then prints the table. Usage: node tools/experiments/mcl.mjs [--json] [--out result.json]
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../../', import.meta.url));
const outDir = `${root}node_modules/.cache/genview/experiments/`;
mkdirSync(outDir, { recursive: true });
const outfile = `${outDir}mcl-colored.mjs`;
// data-fashion-mnist stays external: it locates its data files from its own module URL.
const workspace = /^@genview\/(core|views|quality|losses|backbones|eval|runner)$/;

await build({
  entryPoints: [`${root}examples/mcl-colored.ts`],
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outfile,
  logLevel: 'error',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  plugins: [
    {
      name: 'workspace-sources',
      setup(b) {
        b.onResolve({ filter: /^[@a-z]/ }, (args) => {
          const m = workspace.exec(args.path);
          if (m) return { path: `${root}packages/${m[1]}/src/index.ts` };
          if (args.path.startsWith('@tensorflow/tfjs-core/dist/')) return undefined;
          return { path: args.path, external: true };
        });
      },
    },
  ],
});

const env = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);
const { main } = await import(pathToFileURL(outfile).href);
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
