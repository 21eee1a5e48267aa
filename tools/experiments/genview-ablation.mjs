// The GenView ablation from one command: npm run experiment:genview
//
// On a subset of Fashion-MNIST with our own tiny unCLIP, at equal budget and for every seed:
//   baseline (handcrafted views) / + generated views, fixed noise / + adaptive noise / + quality weights (= GenView)
// for MoCo v2 and SimCLR. Steps, each skipped when its output is already there (so a rerun resumes):
//   1. a short SimCLR run whose frozen encoder serves adaptive noise and the quality scorer;
//   2. `genview fit-foreground` with that encoder;
//   3. `genview generate` twice: fixed noise level, and GenView's adaptive level per image;
//   4. `genview train` for every arm and seed;
//   5. `genview report` over all runs, plus a markdown table on stdout and in <out>/table.md.
// Knobs (environment): GV_OUT (runs/genview-ablation), GV_TRAIN (6000 images), GV_STEPS (100), GV_BATCH (128),
// GV_SEEDS (3), GV_FRAMEWORKS (moco-v2,simclr), GV_FIXED_LEVEL (200), GV_GEN_STEPS (10), GV_ENCODER_STEPS (150),
// GV_SCORER_ENCODER (unset: step 1's trained small CNN; else an encoder name such as onnx:tiny-clip, the CLIP-aligned
// image tower of the tiny unCLIP, which then replaces step 1), GV_DIVERSITY (1: GenView's score; a comma list gives
// one quality arm per value, 0 = foreground agreement alone), GV_GAMMA (1), GV_ARMS (regular expression over
// "<framework>-<arm>": train only those; arms with missing runs are left out of the table, and said so).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { env, genview, requireBuiltCli, root } from './cli.mjs';

const base = join(root, 'examples/configs/genview-ablation.yaml');
const out = resolve(env('GV_OUT', 'runs/genview-ablation'));
const trainImages = Number(env('GV_TRAIN', 6000));
const steps = Number(env('GV_STEPS', 100));
const batch = Number(env('GV_BATCH', 128));
const seeds = Array.from({ length: Number(env('GV_SEEDS', 3)) }, (_, i) => i);
const frameworks = env('GV_FRAMEWORKS', 'moco-v2,simclr').split(',');
const fixedLevel = Number(env('GV_FIXED_LEVEL', 200));
const generationSteps = Number(env('GV_GEN_STEPS', 10));
const encoderSteps = Number(env('GV_ENCODER_STEPS', 150));
const scorerEncoder = env('GV_SCORER_ENCODER', '');
const diversities = env('GV_DIVERSITY', '1').split(',').map(Number);
const gamma = Number(env('GV_GAMMA', 1));
const onlyArms = new RegExp(env('GV_ARMS', '.'));

requireBuiltCli('npm run experiment:genview builds, then runs this script');
mkdirSync(out, { recursive: true });

const shared = [`--set`, `data.train.limit=${trainImages}`, `--set`, `trainer.batchSize=${batch}`];

// Each framework with the optimizer its paper uses (SimCLR: LARS; MoCo v2: SGD), scaled by batch/256.
const FRAMEWORKS = {
  simclr: {
    framework: '{name: simclr, backbone: small-cnn, projector: {name: mlp-projector, hiddenDim: 512, outDim: 128}, loss: {name: nt-xent, temperature: 0.2}}',
    optimizer: '{name: lars, momentum: 0.9, weightDecay: 1.0e-6}',
    lr: 0.6,
  },
  'moco-v2': {
    framework: '{name: moco-v2, backbone: small-cnn, queueSize: 2048}',
    optimizer: '{name: sgd, momentum: 0.9, weightDecay: 5.0e-4}',
    lr: 0.06,
  },
};

// The adaptive store and the direction depend on the frozen encoder: one output folder holds one encoder's.
const encoderDir = join(out, 'frozen-encoder');
const encoder = scorerEncoder || `checkpoint:${encoderDir}`;
const scorerFile = join(out, 'scorer.json');
if (existsSync(scorerFile)) {
  const recorded = JSON.parse(readFileSync(scorerFile, 'utf8')).encoder;
  if (recorded !== encoder) {
    throw new Error(`${out} holds stores and a direction made with encoder ${recorded}, not ${encoder}: set GV_OUT to another folder (or GV_SCORER_ENCODER=${recorded}).`);
  }
} else writeFileSync(scorerFile, `${JSON.stringify({ encoder }, null, 2)}\n`);

// 1. The frozen encoder of adaptive noise and of the quality scorer (unless GV_SCORER_ENCODER names one).
if (!scorerEncoder && !existsSync(join(encoderDir, 'results.json'))) {
  await genview(['train', '--config', base, ...shared, '--set', `outDir=${encoderDir}`, '--set', `trainer.steps=${encoderSteps}`,
    '--set', `framework=${FRAMEWORKS.simclr.framework}`, '--set', `optimizer=${FRAMEWORKS.simclr.optimizer}`, '--set', `trainer.lr=${FRAMEWORKS.simclr.lr}`,
    '--set', 'seed=100']);
}

// 2. GenView's foreground direction from that encoder's patch tokens.
const direction = join(out, 'foreground.safetensors');
if (!existsSync(direction)) await genview(['fit-foreground', '--config', base, ...shared, '--encoder', encoder, '--out', direction, '--images', String(Math.min(2000, trainImages))]);

// 3. One generated view per training image, at a fixed level and at the adaptive level.
const stores = {
  fixed: { dir: join(out, 'views-fixed'), conditioning: `{name: genview-adaptive-noise, strategy: fixed, level: ${fixedLevel}}` },
  adaptive: { dir: join(out, 'views-adaptive'), conditioning: `{name: genview-adaptive-noise, strategy: adaptive, encoder: '${encoder}', direction: '${direction}'}` },
};
for (const store of Object.values(stores)) {
  await genview(['generate', '--config', base, ...shared, '--set', `outDir=${store.dir}`, '--set', `generate.store=${store.dir}`,
    '--set', `generate.generator.steps=${generationSteps}`, '--set', `generate.conditioning=${store.conditioning}`]);
}

// 4. The arms.
const ARMS = [
  { key: 'baseline', label: 'baseline', sets: [] },
  { key: 'fixed', label: '+ generated (fixed noise)', sets: [`views.generated={generator: {name: view-store, dir: '${stores.fixed.dir}'}, probability: 1}`] },
  { key: 'adaptive', label: '+ adaptive noise', sets: [`views.generated={generator: {name: view-store, dir: '${stores.adaptive.dir}'}, probability: 1}`] },
  // GenView's score is diversity 1, γ 1 (the key of the runs cached before these knobs); other settings get their own key.
  ...diversities.map((diversity) => ({
    key: diversity === 1 && gamma === 1 ? 'genview' : `quality-d${diversity}-g${gamma}`,
    label: diversity === 1 ? `+ quality (GenView${gamma === 1 ? '' : `, γ = ${gamma}`})` : `+ quality (diversity ${diversity}, γ = ${gamma})`,
    sets: [
      `views.generated={generator: {name: view-store, dir: '${stores.adaptive.dir}'}, probability: 1}`,
      `quality={name: genview-fg-bg, encoder: '${encoder}', direction: '${direction}', gamma: ${gamma}, diversity: ${diversity}}`,
    ],
  })),
];
const reportArms = [];
const missingArms = [];
for (const name of frameworks) {
  const f = FRAMEWORKS[name];
  if (!f) throw new Error(`GV_FRAMEWORKS: unknown framework ${name}; choose from ${Object.keys(FRAMEWORKS).join(', ')}`);
  for (const arm of ARMS) {
    const runs = [];
    for (const seed of seeds) {
      const dir = join(out, `${name}-${arm.key}-seed${seed}`);
      runs.push(dir);
      if (existsSync(join(dir, 'results.json')) || !onlyArms.test(`${name}-${arm.key}`)) continue;
      const seconds = await genview(['train', '--config', base, ...shared, '--set', `outDir=${dir}`, '--set', `seed=${seed}`, '--set', `trainer.steps=${steps}`,
        '--set', `framework=${f.framework}`, '--set', `optimizer=${f.optimizer}`, '--set', `trainer.lr=${f.lr}`,
        ...arm.sets.flatMap((s) => ['--set', s])]);
      console.log(`${name}-${arm.key}-seed${seed}: ${seconds} s`);
    }
    if (runs.every((dir) => existsSync(join(dir, 'results.json')))) reportArms.push({ name: `${name} ${arm.label}`, runs, framework: name, key: arm.key });
    else missingArms.push(`${name}-${arm.key}`);
  }
}

// 5. The report page and a table for the note.
const metric = (dir, key) => {
  const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  for (const r of results.evaluations[0].results) if (key in r.metrics) return r.metrics[key];
  return Number.NaN;
};
const meanSd = (values) => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = values.length > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1)) : 0;
  return { mean, sd };
};
const points = ({ mean, sd }, sign = false) => `${sign && mean >= 0 ? '+' : ''}${(100 * mean).toFixed(2)} ± ${(100 * sd).toFixed(2)}`;

// Every pair weight a quality-weighted arm logged (quality-weights.jsonl, one line per logged step).
const qualityWeights = [];
const weightSpread = new Map();
for (const arm of reportArms) {
  const values = [];
  for (const dir of arm.runs) {
    const file = join(dir, 'quality-weights.jsonl');
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trim()) values.push(...JSON.parse(line).weights);
  }
  if (values.length === 0) continue;
  // The original file name for GenView's arm, so reports written before the knobs still find theirs.
  const file = join(out, arm.key === 'genview' ? `${arm.framework}-quality-weights.json` : `${arm.framework}-${arm.key}-weights.json`);
  writeFileSync(file, JSON.stringify(values));
  qualityWeights.push({ name: `${arm.name}: genview-fg-bg weights`, file });
  const sorted = Float64Array.from(values).sort();
  const at = (q) => sorted[Math.round(q * (sorted.length - 1))].toFixed(2);
  const { mean } = meanSd(values);
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  weightSpread.set(arm, `std ${std.toFixed(3)}, 5–95 % ${at(0.05)}–${at(0.95)}`);
}

// Paired by seed against the same framework's baseline: the arm's run minus the baseline run of that seed.
const lines = [
  '| arm | kNN top-1 (k=20) | vs baseline, paired | linear probe top-1 | vs baseline, paired | pair weights |',
  '|---|---|---|---|---|---|',
];
for (const arm of reportArms) {
  const baseline = reportArms.find((a) => a.framework === arm.framework && a.key === 'baseline');
  const cells = ['knn_top1@20', 'linear_top1'].flatMap((key) => {
    const values = arm.runs.map((d) => metric(d, key));
    const paired = baseline && arm !== baseline ? points(meanSd(values.map((v, i) => v - metric(baseline.runs[i], key))), true) : '';
    return [points(meanSd(values)), paired];
  });
  lines.push(`| ${arm.name} | ${cells.join(' | ')} | ${weightSpread.get(arm) ?? ''} |`);
}
const missing = missingArms.length > 0 ? ` Not in this table (runs missing; GV_ARMS left them out): ${missingArms.join(', ')}.` : '';
const table =
  `${lines.join('\n')}\n\n${seeds.length} seeds, ${steps} steps of batch ${batch} on ${trainImages} Fashion-MNIST training images; ` +
  `test: first 2000 test images; mean ± sd over seeds, in points. Frozen encoder of adaptive noise and quality weights: ${encoder}.${missing}\n`;
writeFileSync(join(out, 'table.md'), table);
console.log(`\n${table}`);

const spec = {
  title: 'GenView ablation on Fashion-MNIST (tiny unCLIP views)',
  arms: reportArms.map(({ name, runs }) => ({ name, runs })),
  metrics: ['knn_top1@20', 'knn_top1@200', 'linear_top1'],
  viewStores: [
    { name: `fixed noise level ${fixedLevel}`, dir: stores.fixed.dir, images: 8 },
    { name: 'adaptive noise level (GenView)', dir: stores.adaptive.dir, images: 8 },
  ],
  qualityWeights,
  notes:
    `Equal budget per arm: ${steps} steps of batch ${batch} on the first ${trainImages} training images, ${seeds.length} seeds. ` +
    `Generated views: our tiny unCLIP, DDIM ${generationSteps} steps, guidance 3, one view per image; in every pair one view starts ` +
    `from the generated image. The frozen encoder of adaptive noise and quality weights: ` +
    (scorerEncoder ? `${scorerEncoder}.` : `a ${encoderSteps}-step SimCLR run (seed 100).`),
};
const specFile = join(out, 'report.json');
writeFileSync(specFile, `${JSON.stringify(spec, null, 2)}\n`);
await genview(['report', '--spec', specFile, '--out', join(out, 'report.html')]);
