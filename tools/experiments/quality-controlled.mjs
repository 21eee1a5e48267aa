// GenView's quality weights under a controlled test: npm run experiment:quality
//
// Bad generated views are mixed into the view store at known rates: noise level 999, where the tiny unCLIP
// keeps the source's class 7.7 % of the time, for 0, 25 and 50 % of the images (each view records its level,
// so every pair is known to be clean or corrupted). The frozen encoder is the CLIP-aligned image tower of
// the tiny unCLIP (onnx:tiny-clip, its 7x7 patch tokens). Steps, each skipped when its output exists:
//   1. `genview fit-foreground --encoder onnx:tiny-clip`;
//   2. `genview generate` three times with the same seed (clean views are then the same bytes in every store):
//      fixed clean level, and random levels drawn per image from lists holding 999 at 1/4 and 1/2;
//   3. the scores: genview-fg-bg on every (source, generated view) pair of each store, ROC AUC clean vs
//      corrupted, fg/bg similarities per group, and the weights over batches (std, quantiles) of every
//      scorer an arm trains with (redone when scores.json lacks one);
//   4. SimCLR for every arm and seed at equal budget: clean store; 25 % and 50 % corrupted, unweighted and
//      quality-weighted (one arm per γ in GV_GAMMAS, GenView's score, and per γ in GV_FG_ONLY_GAMMAS,
//      foreground agreement alone);
//   5. table.md (kNN mean ± std, recovered share of the lost kNN, per-seed paired differences), knn.json,
//      scores.json and report.html (the tables, and histograms of clean vs corrupted pairs' weights).
// Arms whose runs are not all there (GV_ARMS left them out) are left out of the tables, and said so.
// Knobs: GV_OUT (runs/quality-controlled), GV_TRAIN (1500 images), GV_STEPS (60), GV_BATCH (128), GV_SEEDS (3),
// GV_CLEAN_LEVEL (100), GV_GEN_STEPS (10), GV_GAMMAS (1,4), GV_FG_ONLY_GAMMAS (1,4: arms scoring foreground agreement
// alone, diversity 0), GV_TEST (1000), GV_PARALLEL (2 runs at a time), GV_ARMS (regular expression: train only these arms).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EventBus, Rng, selectBackend, tf } from '@genview/core';
import { fashionMnistPlugin } from '@genview/datasets';
import { createGenviewFgBgScorer, loadForegroundDirection } from '@genview/quality';
import { OnnxPatchEncoder, ViewStore } from '@genview/views';
import { tinyClipPath } from '@genview/model-tiny-unclip';
import { env, genview, requireBuiltCli, root } from './cli.mjs';

const base = join(root, 'examples/configs/genview-ablation.yaml');
const out = resolve(env('GV_OUT', 'runs/quality-controlled'));
const trainImages = Number(env('GV_TRAIN', 1500));
const steps = Number(env('GV_STEPS', 60));
const batch = Number(env('GV_BATCH', 128));
const seeds = Array.from({ length: Number(env('GV_SEEDS', 3)) }, (_, i) => i);
const cleanLevel = Number(env('GV_CLEAN_LEVEL', 100));
const generationSteps = Number(env('GV_GEN_STEPS', 10));
const gammas = env('GV_GAMMAS', '1,4').split(',').map(Number);
// Foreground agreement alone (diversity 0): not GenView's score, the variant the scores point to.
const fgOnlyGammas = env('GV_FG_ONLY_GAMMAS', '1,4').split(',').filter(Boolean).map(Number);
const testImages = Number(env('GV_TEST', 1000));
const parallel = Number(env('GV_PARALLEL', 2));
const ENCODER = 'onnx:tiny-clip';

requireBuiltCli('npm run experiment:quality builds, then runs this script');
mkdirSync(out, { recursive: true });
const shared = ['--set', `data.train.limit=${trainImages}`, '--set', `data.test.limit=${testImages}`, '--set', `trainer.batchSize=${batch}`];

// 1. The foreground direction of the CLIP-aligned tower's patch tokens.
const direction = join(out, 'foreground-clip.safetensors');
if (!existsSync(direction)) await genview(['fit-foreground', '--config', base, ...shared, '--encoder', ENCODER, '--out', direction, '--images', String(Math.min(2000, trainImages))]);

// 2. Three stores from one seed: the random strategy draws 999 for about the stated share of images.
const MIXES = [
  { key: 'p0', share: 0, conditioning: `{name: genview-adaptive-noise, strategy: fixed, level: ${cleanLevel}}` },
  { key: 'p25', share: 0.25, conditioning: `{name: genview-adaptive-noise, strategy: random, levels: [${cleanLevel}, ${cleanLevel}, ${cleanLevel}, 999]}` },
  { key: 'p50', share: 0.5, conditioning: `{name: genview-adaptive-noise, strategy: random, levels: [${cleanLevel}, 999]}` },
];
for (const mix of MIXES) {
  mix.dir = join(out, `views-${mix.key}`);
  await genview(['generate', '--config', base, ...shared, '--set', 'seed=0', '--set', `outDir=${mix.dir}`, '--set', `generate.store=${mix.dir}`,
    '--set', `generate.generator.steps=${generationSteps}`, '--set', `generate.conditioning=${mix.conditioning}`]);
}

// 3. Scores of every (source, generated view) pair, un-augmented, with the scorer training uses.
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
const summary = (values) => {
  const sorted = Float64Array.from(values).sort();
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { n: values.length, mean, std, q05: quantile(sorted, 0.05), q25: quantile(sorted, 0.25), q50: quantile(sorted, 0.5), q75: quantile(sorted, 0.75), q95: quantile(sorted, 0.95) };
};
/** Probability that a clean pair outscores a corrupted one (ties count half): the ROC AUC. */
const rocAuc = (clean, corrupted) => {
  const all = [...clean.map((s) => [s, 1]), ...corrupted.map((s) => [s, 0])].sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j][0] === all[i][0]) j++;
    const rank = (i + j + 1) / 2;
    for (let k = i; k < j; k++) if (all[k][1] === 1) rankSum += rank;
    i = j;
  }
  return (rankSum - (clean.length * (clean.length + 1)) / 2) / (clean.length * corrupted.length);
};

// Every scorer an arm trains with: GenView's score (diversity 1) and foreground agreement alone (diversity 0).
const SCORERS = [
  ...gammas.map((g) => ({ key: `gamma${g}`, gamma: g, diversity: 1, label: `GenView score, γ = ${g}` })),
  ...fgOnlyGammas.map((g) => ({ key: `fg-gamma${g}`, gamma: g, diversity: 0, label: `foreground only, γ = ${g}` })),
];
const scoresFile = join(out, 'scores.json');
const hasAllScorers = (file) => {
  if (!existsSync(file)) return false;
  const stores = JSON.parse(readFileSync(file, 'utf8')).stores ?? {};
  return MIXES.every((m) => stores[m.key] && SCORERS.every((sc) => stores[m.key].weights?.[sc.key]));
};
if (!hasAllScorers(scoresFile)) {
  const events = new EventBus();
  await selectBackend({ events });
  const dataset = await fashionMnistPlugin.create({ split: 'train', limit: trainImages }, { rng: new Rng(0), events, path: 'data.train' });
  const encoder = await OnnxPatchEncoder.load(tinyClipPath, { threads: 1 });
  const fg = await loadForegroundDirection(direction);
  const scorers = Object.fromEntries(SCORERS.map((sc) => [sc.key, createGenviewFgBgScorer({ extractor: encoder, direction: fg, gamma: sc.gamma, diversity: sc.diversity })]));
  const result = { encoder: ENCODER, pairs: 'source image and its stored view, un-augmented', stores: {} };
  for (const mix of MIXES) {
    const store = await ViewStore.open(mix.dir);
    const corrupted = [];
    const fgSim = [];
    const bgSim = [];
    const weights = Object.fromEntries(SCORERS.map((sc) => [sc.key, []]));
    for (let start = 0; start < trainImages; start += batch) {
      const indices = Int32Array.from({ length: Math.min(batch, trainImages - start) }, (_, i) => start + i);
      const sources = (await dataset.read(indices)).images;
      const views = [];
      for (const index of indices) {
        const view = await store.readView(index, 0);
        corrupted.push(view.params.noiseLevel === 999);
        views.push(Float32Array.from(view.pixels, (p) => p / 255));
      }
      const generated = tf.tensor4d(Float32Array.from(views.flatMap((v) => Array.from(v))), [indices.length, ...sources.shape.slice(1)]);
      const sims = await scorers[SCORERS[0].key].similarities({ views: [sources, generated] });
      fgSim.push(...sims.foreground.dataSync());
      bgSim.push(...sims.background.dataSync());
      // Weights as training normalises them: over a batch of this size.
      for (const sc of SCORERS) {
        const w = await scorers[sc.key].pairWeights({ views: [sources, generated] });
        weights[sc.key].push(...w.dataSync());
        w.dispose();
      }
      tf.dispose([sources, generated, sims.foreground, sims.background]);
    }
    const logit = fgSim.map((f, i) => f - bgSim[i]);
    const group = (values, bad) => values.filter((_, i) => corrupted[i] === bad);
    const entry = {
      corruptedShare: corrupted.filter(Boolean).length / corrupted.length,
      corruptedPairs: corrupted.filter(Boolean).length,
      fgSimilarity: { clean: summary(group(fgSim, false)), corrupted: corrupted.some(Boolean) ? summary(group(fgSim, true)) : null },
      bgSimilarity: { clean: summary(group(bgSim, false)), corrupted: corrupted.some(Boolean) ? summary(group(bgSim, true)) : null },
      auc: corrupted.some(Boolean) ? { score: rocAuc(group(logit, false), group(logit, true)), fgOnly: rocAuc(group(fgSim, false), group(fgSim, true)) } : null,
      weights: Object.fromEntries(
        SCORERS.map((sc) => {
          const w = weights[sc.key];
          return [sc.key, { gamma: sc.gamma, diversity: sc.diversity, all: summary(w), clean: summary(group(w, false)), corrupted: corrupted.some(Boolean) ? summary(group(w, true)) : null }];
        }),
      ),
    };
    result.stores[mix.key] = entry;
    for (const sc of SCORERS) writeFileSync(join(out, `weights-${mix.key}-${sc.key}.json`), JSON.stringify(weights[sc.key].map((w) => Number(w.toPrecision(5)))));
    // Which pairs are which, in the weights' order: the report draws the two groups apart.
    writeFileSync(join(out, `pairs-${mix.key}.json`), JSON.stringify(corrupted.map((bad) => (bad ? 'corrupted (level 999)' : `clean (level ${cleanLevel})`))));
    console.log(`${mix.key}: corrupted ${entry.corruptedPairs}/${corrupted.length}, AUC ${entry.auc ? entry.auc.score.toFixed(3) : '-'}`);
  }
  for (const s of Object.values(scorers)) s.dispose();
  await encoder.dispose();
  writeFileSync(scoresFile, `${JSON.stringify(result, null, 2)}\n`);
}
const scores = JSON.parse(readFileSync(scoresFile, 'utf8'));

// 4. The arms, at equal budget.
const simclr = [
  '--set', 'framework={name: simclr, backbone: small-cnn, projector: {name: mlp-projector, hiddenDim: 512, outDim: 128}, loss: {name: nt-xent, temperature: 0.2}}',
  '--set', 'optimizer={name: lars, momentum: 0.9, weightDecay: 1.0e-6}', '--set', 'trainer.lr=0.6', '--set', 'trainer.logEvery=10',
  '--set', 'eval.evaluators=[{name: knn, k: [20]}]',
];
const generated = (mix) => [`views.generated={generator: {name: view-store, dir: '${mix.dir}'}, probability: 1}`];
const quality = (g, diversity = 1) => `quality={name: genview-fg-bg, encoder: '${ENCODER}', direction: '${direction}', gamma: ${g}, diversity: ${diversity}}`;
const [p0, p25, p50] = MIXES;
const ARMS = [
  { key: 'clean', label: 'clean store (0 % corrupted)', sets: generated(p0) },
  ...[p25, p50].flatMap((mix) => [
    { key: `${mix.key}-plain`, label: `${mix.share * 100} % corrupted, unweighted`, sets: generated(mix), mix: mix.key },
    ...SCORERS.map((sc) => ({
      key: `${mix.key}-${sc.key}`,
      label: `${mix.share * 100} % corrupted, ${sc.diversity === 1 ? `GenView weights (γ = ${sc.gamma})` : `foreground-only weights (γ = ${sc.gamma}, diversity 0)`}`,
      sets: [...generated(mix), quality(sc.gamma, sc.diversity)],
      mix: mix.key,
      scorer: sc.key,
    })),
  ]),
];
const jobs = [];
// GV_ARMS (a regular expression on arm keys) trains only those arms, e.g. to add arms beside a running invocation.
const trainOnly = new RegExp(env('GV_ARMS', '.'));
for (const arm of ARMS) {
  arm.runs = seeds.map((seed) => join(out, `${arm.key}-seed${seed}`));
  for (const [i, dir] of arm.runs.entries()) {
    if (existsSync(join(dir, 'results.json')) || !trainOnly.test(arm.key)) continue;
    jobs.push(() =>
      genview(['train', '--config', base, ...shared, ...simclr, '--set', `outDir=${dir}`, '--set', `seed=${seeds[i]}`, '--set', `trainer.steps=${steps}`, ...arm.sets.flatMap((s) => ['--set', s])], {
        log: `${dir}.log`,
        plain: true,
      }),
    );
  }
}
const running = new Set();
for (const job of jobs) {
  const p = job().finally(() => running.delete(p));
  running.add(p);
  if (running.size >= parallel) await Promise.race(running);
}
await Promise.all(running);

// 5. Tables and the report page: one set of rows feeds table.md and the report's tables.
const knn = (dir) => {
  const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  for (const r of results.evaluations[0].results) if ('knn_top1@20' in r.metrics) return r.metrics['knn_top1@20'];
  return Number.NaN;
};
const meanSd = (values) => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = values.length > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1)) : 0;
  return { mean, sd };
};
const pct = ({ mean, sd }) => `${(100 * mean).toFixed(2)} ± ${(100 * sd).toFixed(2)}`;
const signed = (x, digits = 2) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;
const share = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(0).replace('-', '−')} %` : 'nothing lost');
const complete = ARMS.filter((arm) => arm.runs.every((dir) => existsSync(join(dir, 'results.json'))));
const perRun = Object.fromEntries(complete.map((arm) => [arm.key, arm.runs.map(knn)]));
const perArm = Object.fromEntries(Object.entries(perRun).map(([key, values]) => [key, meanSd(values)]));

// Recovery = (weighted − unweighted) / (clean − unweighted): per seed (the same seed in all three arms) and of the means.
const recovery = (armKey, plainKey) => {
  const [w, p, c] = [perRun[armKey], perRun[plainKey], perRun.clean];
  const perSeed = w.map((v, i) => (c[i] - p[i] > 0 ? (v - p[i]) / (c[i] - p[i]) : Number.NaN));
  const lost = perArm.clean.mean - perArm[plainKey].mean;
  return { perSeed, ofMeans: lost > 0 ? (perArm[armKey].mean - perArm[plainKey].mean) / lost : Number.NaN };
};
const knnRows = [];
const summaryJson = { steps, batch, trainImages, testImages, seeds, arms: {} };
for (const arm of complete) {
  const corruptedShare = scores.stores[arm.mix ?? 'p0'].corruptedShare;
  const values = perRun[arm.key];
  const plainKey = `${arm.mix}-plain`;
  // The reference of a paired difference: clean for an unweighted arm (what corruption costs), unweighted for a weighted one.
  const reference = arm.scorer ? plainKey : arm.mix ? 'clean' : null;
  const row = [arm.label, `${(100 * corruptedShare).toFixed(1)} %`, pct(perArm[arm.key]), values.map((v) => (100 * v).toFixed(1)).join(' / '), '', '', ''];
  const entry = { label: arm.label, runs: arm.runs.map((dir, i) => ({ seed: seeds[i], dir, knn: values[i] })), ...perArm[arm.key] };
  if (reference && perRun[reference]) {
    const diffs = meanSd(values.map((v, i) => v - perRun[reference][i]));
    row[4] = `${signed(100 * diffs.mean)} ± ${(100 * diffs.sd).toFixed(2)} (vs ${reference === 'clean' ? 'clean' : 'unweighted'})`;
    entry.pairedDifference = { reference, ...diffs };
  }
  if (arm.scorer && perRun[plainKey] && perRun.clean) {
    const r = recovery(arm.key, plainKey);
    row[5] = share(r.ofMeans);
    row[6] = r.perSeed.map(share).join(' / ');
    entry.recovery = r;
  }
  knnRows.push(row);
  summaryJson.arms[arm.key] = entry;
}
const left = ARMS.filter((arm) => !complete.includes(arm)).map((arm) => arm.key);
writeFileSync(join(out, 'knn.json'), `${JSON.stringify(summaryJson, null, 2)}\n`);

const f3 = (x) => (x ? x.mean.toFixed(3) : '-');
const aucRows = MIXES.map((mix) => {
  const s = scores.stores[mix.key];
  return [
    mix.key,
    `${s.corruptedPairs} (${(100 * s.corruptedShare).toFixed(1)} %)`,
    s.auc ? s.auc.score.toFixed(3) : '-',
    s.auc ? s.auc.fgOnly.toFixed(3) : '-',
    `${f3(s.fgSimilarity.clean)} / ${f3(s.fgSimilarity.corrupted)}`,
    `${f3(s.bgSimilarity.clean)} / ${f3(s.bgSimilarity.corrupted)}`,
  ];
});
const weightRows = MIXES.flatMap((mix) =>
  SCORERS.map((sc) => {
    const w = scores.stores[mix.key].weights[sc.key];
    const q = [w.all.q05, w.all.q25, w.all.q50, w.all.q75, w.all.q95].map((x) => x.toFixed(2)).join(' / ');
    const byGroup = (pick) => `${pick(w.clean).toFixed(3)} / ${w.corrupted ? pick(w.corrupted).toFixed(3) : '-'}`;
    return [mix.key, sc.label, w.all.std.toFixed(3), q, byGroup((x) => x.mean), byGroup((x) => x.q50)];
  }),
);
const budget = `${seeds.length} seeds (${seeds.join(', ')}; the same seeds in every arm), ${steps} steps of batch ${batch} (SimCLR, small CNN) on the first ${trainImages} Fashion-MNIST training images; kNN top-1 (k = 20) on the first ${testImages} test images.`;
const tables = [
  {
    name: 'kNN top-1 (k = 20) per arm',
    columns: ['arm', 'corrupted pairs', 'kNN top-1 (%)', 'per seed', 'paired difference (points, mean ± sd over seeds)', 'recovered share of the lost kNN (of the means)', 'recovered per seed'],
    rows: knnRows,
    caption: `${budget} Recovered share = (weighted − unweighted) / (clean − unweighted).${left.length > 0 ? ` Not in this table (runs missing; GV_ARMS left them out): ${left.join(', ')}.` : ''}`,
  },
  {
    name: 'Do the scores separate corrupted from clean pairs?',
    columns: ['store', 'corrupted pairs', 'ROC AUC clean vs corrupted, GenView score (fg − bg)', 'AUC, foreground similarity alone', 'cos fg clean / corrupted', 'cos bg clean / corrupted'],
    rows: aucRows,
    caption: `genview-fg-bg with ${ENCODER} (7x7 patch tokens, 64-d) on every (source image, stored view) pair, un-augmented. AUC: the probability that a clean pair outscores a corrupted one.`,
  },
  {
    name: 'Weight distribution per store and scorer',
    columns: ['store', 'scorer', 'weight std', '5 / 25 / 50 / 75 / 95 % quantiles', 'mean weight clean / corrupted', 'median weight clean / corrupted'],
    rows: weightRows,
    caption: `Weights as training normalises them (mean 1 over each batch of ${batch}), on the same un-augmented pairs.`,
  },
];
const markdown = (t) => [`**${t.name}**`, '', `| ${t.columns.join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`, ...t.rows.map((r) => `| ${r.join(' | ')} |`), '', t.caption].join('\n');
const table = tables.map(markdown).join('\n\n');
writeFileSync(join(out, 'table.md'), `${table}\n`);
console.log(`\n${table}`);

const spec = {
  title: 'GenView quality weights: controlled corruption (noise level 999) on Fashion-MNIST',
  arms: complete.map((arm) => ({ name: arm.label, runs: arm.runs })),
  metrics: ['knn_top1@20'],
  tables,
  viewStores: MIXES.map((mix) => ({ name: `${mix.key}: ${mix.share * 100} % at level 999`, dir: mix.dir, images: 8 })),
  // γ = 1 weights span 0.9–1.2 and γ = 4 ones 0.03–35: on one shared axis the first would fill a single bin.
  weightsAxis: 'per-set',
  qualityWeights: MIXES.flatMap((mix) =>
    SCORERS.map((sc) => ({
      name: `${mix.key} (${mix.share * 100} % corrupted), ${sc.label}`,
      file: join(out, `weights-${mix.key}-${sc.key}.json`),
      groups: join(out, `pairs-${mix.key}.json`),
    })),
  ),
  notes:
    `Corrupted views: noise level 999 (the tiny unCLIP keeps the class 7.7 % of the time there); clean views: level ${cleanLevel}. ` +
    `Equal budget: ${steps} steps of batch ${batch}, ${seeds.length} seeds. Frozen encoder of the scorer: ${ENCODER}; weights of (source, view) pairs, clean and corrupted drawn apart.`,
};
const specFile = join(out, 'report.json');
writeFileSync(specFile, `${JSON.stringify(spec, null, 2)}\n`);
await genview(['report', '--spec', specFile, '--out', join(out, 'report.html')]);
