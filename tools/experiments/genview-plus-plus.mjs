// GenView++ for vision-language models from one command: node tools/experiments/genview-plus-plus.mjs
//
// On captioned Fashion-MNIST with our own tiny unCLIP, at equal budget (same steps, batch, optimizer and
// schedule) and for every seed:
//   CLIP (handcrafted crops) / CLIP + GenView++ multi-source views / SLIP + GenView++ multi-source views
// Steps, each skipped when its output is already there (so a rerun resumes):
//   1. `genview generate`: one GenView++ view per training image (the store resumes by shard): per image a
//      source (image variation, text-to-image from the caption, image + caption), the noise level of
//      image-conditioned sources drawn from {0, 100, 200}, the guidance of text-conditioned sources from
//      the caption's rule-based complexity (1/2/3/4 -> 8/6/4/2; image-only 10);
//   2. `genview train` for every arm and seed (GV_JOBS at once; each run's output in <out>/logs/);
//   3. `genview report` over all runs (<out>/report.yaml -> <out>/report.html), plus a markdown table of
//      mean ± std over seeds on stdout and in <out>/table.md.
// Evaluation: zero-shot top-1 (class names in the captions' words, six templates), image->text and
// text->image Recall@1/5/10 and kNN on the first 2000 test images; baselines (random-init model, raw pixels) on.
// Knobs (environment): GV_OUT (runs/genview-plus-plus), GV_TRAIN (4000 images), GV_STEPS (150), GV_BATCH (128),
// GV_SEEDS (3), GV_JOBS (2 runs at once), GV_GEN_STEPS (10), GV_VIEWS_PER_IMAGE (1), GV_PROBABILITY (1),
// GV_ARMS (clip,clip-genview,slip-genview,clip-genview-quality; also: slip), GV_ENCODER_STEPS (150).
// The quality arm weights each image-text pair by GenView++'s alignment-diversity score: the bundled frozen
// tiny CLIP (ONNX) scores view–caption alignment; background similarity comes from the patch tokens of a
// frozen encoder (a CLIP run of GV_ENCODER_STEPS steps, seed 100) with `genview fit-foreground`'s direction.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { env, genview as runGenview, requireBuiltCli, root } from './cli.mjs';

const base = join(root, 'examples/configs/genview-plus-plus.yaml');
const out = resolve(env('GV_OUT', 'runs/genview-plus-plus'));
const trainImages = Number(env('GV_TRAIN', 4000));
const steps = Number(env('GV_STEPS', 150));
const batch = Number(env('GV_BATCH', 128));
const seeds = Array.from({ length: Number(env('GV_SEEDS', 3)) }, (_, i) => i);
const jobs = Math.max(1, Number(env('GV_JOBS', 2)));
const generationSteps = Number(env('GV_GEN_STEPS', 10));
const viewsPerImage = Number(env('GV_VIEWS_PER_IMAGE', 1));
const probability = Number(env('GV_PROBABILITY', 1));
const armKeys = env('GV_ARMS', 'clip,clip-genview,slip-genview,clip-genview-quality').split(',');
const encoderSteps = Number(env('GV_ENCODER_STEPS', 150));

requireBuiltCli('npx nx run-many -t build');
mkdirSync(join(out, 'logs'), { recursive: true });

/** One CLI call with --plain progress; its output goes to the terminal, or to `log` (runs that share the terminal). */
const genview = (args, log) => runGenview(args, { log, plain: true });

const shared = ['--set', `data.train.limit=${trainImages}`, '--set', `trainer.batchSize=${batch}`];

// 1. GenView++ multi-source views of the training images (generation seed fixed at 0 for every arm and seed).
const store = join(out, 'views');
const generationSeconds = await genview([
  'generate', '--config', base, ...shared, '--set', 'seed=0', '--set', `outDir=${store}`, '--set', `generate.store=${store}`,
  '--set', `generate.generator.steps=${generationSteps}`, '--set', `generate.conditioning.steps=${generationSteps}`,
  '--set', `generate.viewsPerImage=${viewsPerImage}`,
]);

// 2. The arms: everything but the framework, its views and the generated views is the base config's.
const mild = '[{name: random-resized-crop, size: 28, scale: [0.6, 1]}, horizontal-flip]';
const strong =
  '[{name: random-resized-crop, size: 28, scale: [0.2, 1]}, horizontal-flip, ' +
  '{name: color-jitter, brightness: 0.4, contrast: 0.4, saturation: 0, hue: 0, p: 0.8}, {name: gaussian-blur, p: 0.5, kernelSize: 3}]';
const clipCore = 'backbone: small-cnn, text: {name: text-transformer, width: 128, layers: 2, heads: 4}, tokenizer: captions, jointDim: 128, initTemperature: 0.07, maxLogitScale: 100, loss: clip';
const CLIP = [`framework={name: clip, ${clipCore}}`, `views.pipelines=[${mild}, ${mild}]`];
// SLIP as in slip-shapes.yaml: view 0 (the mild crop of CLIP) pairs with the caption, views 1 and 2
// (strong augmentations) feed SimCLR's NT-Xent (temperature 0.1) through an MLP projector.
const SLIP = [
  `framework={name: slip, ${clipCore}, projector: {name: mlp-projector, hiddenDim: 512, outDim: 128}, sslLoss: {name: nt-xent, temperature: 0.1}, sslWeight: 1}`,
  `views.pipelines=[${mild}, ${strong}, ${strong}]`,
];
// Which view a generated image replaces: CLIP's image-text pair (view 0, the only view clip reads);
// SLIP's image-SSL pair (views 1 and 2, GenView's positive pair), its caption keeping the real image.
const generated = (views) => `views.generated={generator: {name: view-store, dir: '${store}'}, probability: ${probability}, views: [${views.join(', ')}]}`;

// The frozen pieces of the quality weights, made once: the encoder whose patch tokens give backgrounds,
// and the foreground direction fitted on them (GenView's first principal component).
const encoderDir = join(out, 'frozen-encoder');
const direction = join(out, 'foreground.safetensors');
if (armKeys.includes('clip-genview-quality')) {
  if (!existsSync(join(encoderDir, 'results.json'))) {
    const sets = [...CLIP, 'eval.evaluators=[{name: knn, k: [20]}]', 'eval.baselines=false'];
    await genview(['train', '--config', base, ...shared, '--set', `outDir=${encoderDir}`, '--set', 'seed=100', '--set', `trainer.steps=${encoderSteps}`, ...sets.flatMap((x) => ['--set', x])],
      join(out, 'logs', 'frozen-encoder.log'));
  }
  if (!existsSync(direction)) await genview(['fit-foreground', '--config', base, ...shared, '--encoder', `checkpoint:${encoderDir}`, '--out', direction, '--images', '2000']);
}
const quality = `quality={name: alignment-diversity, pairs: image-text, alignment: 'onnx:tiny-clip', encoder: 'checkpoint:${encoderDir}', direction: '${direction}'}`;
const ARMS = {
  clip: { label: 'CLIP', sets: CLIP },
  'clip-genview': { label: 'CLIP + GenView++ views', sets: [...CLIP, generated([0])] },
  slip: { label: 'SLIP', sets: SLIP },
  'slip-genview': { label: 'SLIP + GenView++ views', sets: [...SLIP, generated([1, 2])] },
  'clip-genview-quality': { label: 'CLIP + GenView++ views + quality weights', sets: [...CLIP, generated([0]), quality] },
};
const arms = armKeys.map((key) => {
  const arm = ARMS[key];
  if (!arm) throw new Error(`GV_ARMS: unknown arm ${key}; choose from ${Object.keys(ARMS).join(', ')}`);
  return { key, ...arm, runs: seeds.map((seed) => join(out, `${key}-seed${seed}`)) };
});

// Longest runs first (a SLIP step costs about 2.3 CLIP steps: three views through the image tower), so
// that with GV_JOBS=2 the two lanes finish together; seed-major within a framework.
const pending = [];
for (const seed of seeds) {
  for (const arm of arms) {
    const dir = join(out, `${arm.key}-seed${seed}`);
    if (existsSync(join(dir, 'results.json'))) continue;
    // A run that trained but did not finish its evaluation resumes at its last step.
    const resume = existsSync(join(dir, 'last.safetensors')) ? ['--resume'] : [];
    const args = ['train', '--config', base, ...shared, '--set', `outDir=${dir}`, '--set', `seed=${seed}`, '--set', `trainer.steps=${steps}`, ...resume];
    pending.push({ args: [...args, ...arm.sets.flatMap((s) => ['--set', s])], log: join(out, 'logs', `${arm.key}-seed${seed}.log`), slip: arm.key.startsWith('slip') });
  }
}
pending.sort((a, b) => Number(b.slip) - Number(a.slip));
const trainSeconds = [];
const failures = [];
// After a failure no new run starts, but the one in the other lane finishes (no orphan left writing its run dir).
async function lane() {
  for (let run = pending.shift(); run && failures.length === 0; run = pending.shift()) {
    try {
      const seconds = await genview(run.args, run.log);
      trainSeconds.push(seconds);
      console.log(`  done in ${seconds} s: ${run.log}`);
    } catch (error) {
      failures.push(error.message);
    }
  }
}
await Promise.all(Array.from({ length: jobs }, lane));
if (failures.length > 0) {
  console.error(`${failures.join('\n')}\nRerun the same command to resume: finished runs are skipped.`);
  process.exit(1);
}

// 3. The report page and a table for the note.
const METRICS = [
  ['zeroshot_top1', 'zero-shot top-1'],
  ['i2t_R@1', 'I→T R@1'],
  ['i2t_R@5', 'I→T R@5'],
  ['i2t_R@10', 'I→T R@10'],
  ['t2i_R@1', 'T→I R@1'],
  ['t2i_R@5', 'T→I R@5'],
  ['t2i_R@10', 'T→I R@10'],
  ['knn_top1@20', 'kNN top-1 (k=20)'],
];
const evaluations = (dir) => JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).evaluations;
const metricOf = (evaluation, key) => {
  for (const r of evaluation?.results ?? []) if (key in r.metrics) return r.metrics[key] ?? Number.NaN;
  return undefined;
};
const stats = (values) => {
  if (values.length === 0 || values.some((v) => v === undefined)) return '—';
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = values.length > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1)) : 0;
  return `${(100 * mean).toFixed(2)} ± ${(100 * sd).toFixed(2)}`;
};
const row = (name, records) => `| ${name} | ${METRICS.map(([key]) => stats(records.map((e) => metricOf(e, key)))).join(' | ')} |`;
const lines = [`| arm | ${METRICS.map(([, label]) => label).join(' | ')} |`, `|---|${METRICS.map(() => '---').join('|')}|`];
for (const arm of arms) lines.push(row(arm.label, arm.runs.map((dir) => evaluations(dir)[0])));
// Baselines measured in each arm's runs (the arm's network at random init; raw pixels, kNN only), one row
// per distinct set of numbers: arms whose random-init joint space is the same network share a row.
const baselineRows = new Map();
for (const arm of arms) {
  for (const { encoder } of evaluations(arm.runs[0]).slice(1)) {
    const records = arm.runs.map((dir) => evaluations(dir).find((e) => e.encoder === encoder));
    const key = `${encoder}|${JSON.stringify(records.map((e) => METRICS.map(([m]) => metricOf(e, m))))}`;
    const seen = baselineRows.get(key);
    if (seen) seen.arms.push(arm.label);
    else baselineRows.set(key, { encoder, records, arms: [arm.label] });
  }
}
for (const { encoder, records, arms: of } of baselineRows.values()) {
  lines.push(row(`baseline: ${encoder}${encoder === 'raw pixels' ? '' : ` (${of.join(', ')})`}`, records));
}
const setup =
  `${seeds.length} seed(s), ${steps} steps of batch ${batch} (AdamW, lr 1e-3, cosine, 10% warm-up) on the first ${trainImages} ` +
  `captioned Fashion-MNIST training images; test: the first 2000 test images (retrieval: their captions). ` +
  `Generated views: ${viewsPerImage} per training image from the bundled tiny unCLIP (${generationSteps} denoising steps), ` +
  `used with probability ${probability} per pair.`;
const table = `${lines.join('\n')}\n\nMean ± sample std over seeds, in %. ${setup}\n`;
writeFileSync(join(out, 'table.md'), table);
console.log(`\n${table}`);

const q = (text) => JSON.stringify(text);
// The table's metrics plus every kNN top-1 the runs report (k is capped at the training set size: knn_top1@64 on 64 images).
const reported = arms.flatMap((arm) => arm.runs.flatMap((dir) => evaluations(dir)[0].results.flatMap((r) => Object.keys(r.metrics))));
const reportMetrics = [...new Set([...METRICS.map(([key]) => key), ...reported.filter((key) => key.startsWith('knn_top1@'))])].filter((key) =>
  reported.includes(key),
);
const notes = [
  `Equal budget per arm: ${steps} steps of batch ${batch} on the first ${trainImages} captioned training images, same optimizer ` +
    `(AdamW, lr 1e-3, weight decay 0.1, gradient clipping 1), cosine schedule with 10% warm-up, ${seeds.length} seed(s) (0..${seeds.length - 1}). ` +
    'CLIP: small CNN image tower and a 2-layer text transformer, learned BPE over the training captions, joint space 128, ' +
    'learnable temperature. SLIP: the same plus SimCLR (NT-Xent, temperature 0.1, MLP projector) on two strong views, weight 1.',
  `GenView++ views: genview++-multisource conditioning over the bundled tiny unCLIP (${generationSteps} denoising steps), ` +
    `${viewsPerImage} view(s) per training image, each from one source drawn with equal shares: image variation (guidance 10), ` +
    'text-to-image from the caption, or image + caption (guidance from the rule-based caption complexity, 1/2/3/4 -> 8/6/4/2); ' +
    'noise level of image-conditioned sources drawn uniformly from {0, 100, 200} (no foreground-adaptive encoder here). ' +
    `In training, with probability ${probability} per sample one view starts from the stored generated image: for CLIP the ` +
    'image paired with the caption (view 0); for SLIP one of the two SimCLR views (1 or 2, chosen per sample), the caption keeping the real image. ' +
    (armKeys.includes('clip-genview-quality')
      ? 'Quality weights (last arm only): GenView++ image-text weights, exp(2·(cos(view, caption) − cos(view background, real-image background))) ' +
        'normalised to mean 1 over the batch, with the bundled frozen tiny CLIP (ONNX, aligned on the class-name captions) for the first cosine ' +
        `and, for backgrounds, the patch tokens of a frozen ${encoderSteps}-step CLIP run (seed 100) under the foreground direction that ` +
        '`genview fit-foreground` fitted on 2000 training images; the real background is the un-augmented source image’s. Other arms: no weights.'
      : 'No quality weights.'),
  'Zero-shot: ten class names in the captions’ words, averaged over six templates, on the first 2000 test images. ' +
    'Retrieval: image→text and text→image Recall@1/5/10 over those 2000 images and their captions (identical captions count as correct). ' +
    'kNN (k=20, 200) on the image tower’s pooled features. Baselines: each framework at random init, and raw pixels (kNN only).',
];
const spec = [
  `title: ${q(`GenView++ on captioned Fashion-MNIST: CLIP vs CLIP + GenView++ views vs SLIP + GenView++ views (${seeds.length} seed(s))`)}`,
  'arms:',
  ...arms.flatMap((arm) => [`  - name: ${q(arm.label)}`, '    runs:', ...arm.runs.map((dir) => `      - ${q(relative(out, dir))}`)]),
  'metrics:',
  ...reportMetrics.map((key) => `  - ${q(key)}`),
  'viewStores:',
  `  - { name: ${q('GenView++ multi-source views (tiny unCLIP)')}, dir: ${q(relative(out, store))}, images: 12 }`,
  `notes: ${q(notes.join('\n\n'))}`,
];
// Paths relative to the spec's folder (where `genview report` resolves them), so <out> can be moved whole.
const specFile = join(out, 'report.yaml');
writeFileSync(specFile, `${spec.join('\n')}\n`);
await genview(['report', '--spec', specFile, '--out', join(out, 'report.html')]);
const trained = trainSeconds.length > 0 ? `; ${trainSeconds.length} training run(s): ${trainSeconds.join(', ')} s` : '';
console.log(`generation (or its resume check): ${generationSeconds} s${trained}`);
