/**
 * Feature suppression and MCL: single-stage SimCLR vs each MCL stage vs the integrated MCL representation,
 * at the same total number of training steps, on two testbeds drawn by code.
 * - colored-digits: the colour fills the background and jitters slightly per image, so colour alone
 *   identifies an instance well enough for SimCLR's task and digit shape gets suppressed (crops only, no
 *   colour augmentation). MCL's later stages draw negatives only from the anchor's colour cluster, where
 *   colour no longer separates anything, and must learn shape.
 * - digits-on-fashion: a red digit over a grey Fashion-MNIST item; two independent features.
 * Reports weighted kNN top-1 (k=20) for each feature, the MMVP-style pair score where the testbed has
 * pairs, and the same scores for raw pixels and the untrained encoder every method starts from.
 *
 * Run: node tools/experiments/mcl.mjs   (MCL_DATASET, MCL_STEPS, MCL_STAGES, MCL_SEED, ... override)
 */
import { type Augmentation, type Dataset, EventBus, type FeatureExtractor, type Registry, Rng, selectBackend, backboneFeatures, buildBackbone } from '@genview/core';
import { cachedFeatures, extractFeatures, knnClassify, pairProbe, rawPixelFeatures } from '@genview/eval';
import { Trainer, createRegistry, runMultistage } from '@genview/runner';
import { type FeaturePairs, coloredDigitPairs, coloredDigits, digitsOnTextures, greyTextures } from '@genview/datasets';
import { ViewPipeline } from '@genview/views';

export interface ExperimentOptions {
  /** Total training steps per method (MCL splits them evenly over its stages). */
  steps?: number;
  stages?: number;
  trainImages?: number;
  testImages?: number;
  size?: number;
  batchSize?: number;
  seed?: number;
  /** Per-image colour jitter: the larger, the more a colour alone identifies an instance (stronger suppression). */
  colorNoise?: number;
  /** Paint the digit stroke or the background (a colour over the whole image is a far stronger cue). */
  colorTarget?: 'foreground' | 'background';
  /** NT-Xent temperature of every method. */
  temperature?: number;
  /** Also score a randomly initialised encoder and raw pixels (the features nobody trained). */
  baselines?: boolean;
  /** Which feature-suppression testbed: coloured digits, or digits over Fashion-MNIST items. */
  dataset?: 'colored-digits' | 'digits-on-fashion';
  /** Progress lines go here (the script prints them; the library never does). */
  log?: (line: string) => void;
}

export interface EncoderScores {
  encoder: string;
  /** kNN top-1 per feature (e.g. digit, color or texture). */
  knn: Record<string, number>;
  /** MMVP-style pair score per feature, where the testbed has pairs (coloured digits). */
  pairs: Record<string, number>;
}

export interface ExperimentResult {
  backend: string;
  /** The two features, the label first. */
  features: string[];
  rows: EncoderScores[];
  seconds: number;
  setup: string;
}

interface Testbed {
  train: Dataset;
  features: Record<string, { train: Dataset; test: Dataset }>;
  pairs: Record<string, FeaturePairs>;
  describe: string;
}

async function coloredTestbed(o: Required<Pick<ExperimentOptions, 'trainImages' | 'testImages' | 'size' | 'seed' | 'colorNoise' | 'colorTarget'>>): Promise<Testbed> {
  const { trainImages, testImages, size, seed, colorNoise, colorTarget } = o;
  const train = coloredDigits({ count: trainImages, size, seed: 2 * seed, colorNoise, colorTarget, name: 'colored-digits/train' });
  const test = coloredDigits({ count: testImages, size, seed: 2 * seed + 1, colorNoise, colorTarget, name: 'colored-digits/test' });
  return {
    train,
    features: {
      digit: { train, test },
      color: { train: train.labelledBy('color'), test: test.labelledBy('color') },
    },
    pairs: {
      digit: coloredDigitPairs({ pairs: 500, feature: 'digit', size, seed: 100 + seed, colorNoise, colorTarget }),
      color: coloredDigitPairs({ pairs: 500, feature: 'color', size, seed: 200 + seed, colorNoise, colorTarget }),
    },
    describe: `colored digits ${size}x${size} (train ${trainImages}, test ${testImages}, 10 digits x 10 colours ±${colorNoise} jitter, independent, colour on the ${colorTarget})`,
  };
}

async function compositeTestbed(o: Required<Pick<ExperimentOptions, 'trainImages' | 'testImages' | 'size' | 'seed'>>, registry: Registry, events: EventBus): Promise<Testbed> {
  const { trainImages, testImages, size, seed } = o;
  const fashion = async (split: 'train' | 'test', limit: number) => {
    const data = await registry.create('dataset', { name: 'fashion-mnist', split, limit }, { rng: new Rng(seed), events, path: `fashion.${split}` });
    return { ...(await greyTextures(data, size)), classNames: data.info.classNames ?? [] };
  };
  // Train and test textures come from Fashion-MNIST's own splits, so no test texture was seen in training.
  const make = async (split: 'train' | 'test', count: number, streamSeed: number) => {
    const t = await fashion(split, count);
    return digitsOnTextures({ count, textures: t.textures, textureLabels: t.labels, textureClassNames: t.classNames, size, seed: streamSeed, name: `digits-on-fashion/${split}` });
  };
  const train = await make('train', trainImages, 2 * seed);
  const test = await make('test', testImages, 2 * seed + 1);
  return {
    train,
    features: {
      digit: { train, test },
      texture: { train: train.labelledBy('texture'), test: test.labelledBy('texture') },
    },
    pairs: {},
    describe: `digits over Fashion-MNIST items ${size}x${size} (train ${trainImages}, test ${testImages}; red digit, grey item, independent)`,
  };
}

export async function main(options: ExperimentOptions = {}): Promise<ExperimentResult> {
  const { steps = 600, stages = 3, trainImages = 5000, testImages = 1000, size = 16, batchSize = 128, seed = 0, colorNoise = 0.05 } = options;
  const { colorTarget = 'background', temperature = 0.5, baselines = true, dataset = 'colored-digits' } = options;
  const log = options.log ?? (() => {});
  const started = performance.now();
  const backend = await selectBackend();
  const registry = createRegistry();
  const events = new EventBus();
  const bed =
    dataset === 'colored-digits'
      ? await coloredTestbed({ trainImages, testImages, size, seed, colorNoise, colorTarget })
      : await compositeTestbed({ trainImages, testImages, size, seed }, registry, events);
  const train = bed.train;
  const featureNames = Object.keys(bed.features);
  const context = { rng: new Rng(seed), events };
  // Crops only: no colour jitter or grayscale, so colour survives every view (the suppression setting).
  const views: Augmentation[] = [];
  for (let v = 0; v < 2; v++) {
    views.push(
      new ViewPipeline([
        await registry.create('augment', { name: 'random-resized-crop', size, scale: [0.4, 1] }, { ...context, path: `views[${v}].crop` }),
      ]),
    );
  }
  const inner = {
    name: 'simclr',
    backbone: { name: 'small-cnn', widths: [16, 32, 64] },
    projector: { name: 'mlp-projector', hiddenDim: 128, outDim: 64 },
    loss: { name: 'nt-xent', temperature },
  };
  const optimizer = { name: 'adam' as const };
  const lr = (step: number, total: number) => 2e-3 * 0.5 * (1 + Math.cos((Math.PI * step) / total));

  const rows: EncoderScores[] = [];
  const score = async (name: string, encoder: FeatureExtractor) => {
    const frozen = cachedFeatures(encoder);
    const knn = async (split: { train: Dataset; test: Dataset }) => {
      const tr = await extractFeatures(frozen, split.train);
      const te = await extractFeatures(frozen, split.test);
      const [result] = knnClassify({
        trainFeatures: tr.features,
        trainLabels: split.train.labels!,
        testFeatures: te.features,
        testLabels: split.test.labels!,
        numClasses: split.train.info.classNames?.length ?? 10,
        k: [20],
      });
      return result.top1;
    };
    const row: EncoderScores = { encoder: name, knn: {}, pairs: {} };
    for (const feature of featureNames) row.knn[feature] = await knn(bed.features[feature]);
    for (const [feature, pairs] of Object.entries(bed.pairs)) row.pairs[feature] = (await pairProbe(frozen, pairs)).pairAccuracy;
    rows.push(row);
    const cells = [...featureNames.map((f) => `${f} kNN ${pct(row.knn[f])}`), ...Object.keys(row.pairs).map((f) => `${f} pairs ${pct(row.pairs[f])}`)];
    log(`${name.padEnd(28)} ${cells.join('  ')}`);
  };

  if (baselines) {
    await score('raw pixels', rawPixelFeatures(train));
    // The same architecture and initial weights every method starts from, untrained.
    const random = await buildBackbone({ rng: new Rng(seed).fork('framework'), events, registry, path: 'random' }, inner.backbone, [size, size, 3]);
    await score('random init (untrained)', backboneFeatures(random));
    random.dispose();
  }

  // Single-stage SimCLR with the whole budget.
  const simclr = await registry.create('framework', { ...inner, inputShape: [size, size, 3] }, { rng: new Rng(seed).fork('framework'), events, path: 'framework' });
  const trainer = new Trainer({ framework: simclr, data: train, views, optimizer, learningRate: (s) => lr(s, steps), totalSteps: steps, batchSize, seed, events });
  const summary = await trainer.run();
  trainer.dispose();
  log(`simclr: ${steps} steps in ${summary.seconds.toFixed(0)} s`);
  await score(`SimCLR (${steps} steps)`, simclr.encoder());
  simclr.dispose();

  // MCL: the same budget split over the stages.
  const perStage = Math.floor(steps / stages);
  const result = await runMultistage({
    data: train,
    framework: { name: 'mcl', inner, negatives: 'mask' },
    views,
    stages,
    stepsPerStage: perStage,
    batchSize,
    optimizer,
    learningRate: lr,
    seed,
    events,
    clustering: { k: 10 },
    onStage: async (stage) => {
      log(`mcl stage ${stage.stage + 1}: ${perStage} steps in ${stage.summary.seconds.toFixed(0)} s${stage.pseudoLabels ? `, ${new Set(stage.pseudoLabels).size} pseudo labels` : ''}`);
      await score(`MCL stage ${stage.stage + 1} (${perStage} steps)`, stage.encoder);
    },
  });
  await score(`MCL integrated (${perStage * stages} steps)`, result.integrated);
  result.dispose();
  const seconds = (performance.now() - started) / 1000;
  return {
    backend: backend.chosen,
    features: featureNames,
    rows,
    seconds,
    setup:
      `${bed.describe}, crops only (random-resized-crop 0.4-1); ` +
      `small-cnn [16,32,64], SimCLR NT-Xent T=${temperature}, Adam 2e-3 cosine, batch ${batchSize}; MCL ${stages} stages of ${Math.floor(steps / stages)} steps, k-means k=10, negatives by mask; kNN k=20 weighted top-1${Object.keys(bed.pairs).length ? '; pairs: MMVP rule, 500 pairs' : ''}`,
  };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}
