/**
 * Feature suppression and MCL on coloured digits (drawn by code): single-stage SimCLR vs each MCL stage
 * vs the integrated MCL representation, at the same total number of training steps. Augmentations keep
 * colour (crops only), so colour alone solves SimCLR's task and digit shape gets suppressed; MCL's later
 * stages draw negatives only from the anchor's colour cluster and must learn shape.
 * Reports weighted kNN top-1 (k=20) for digit and for colour, and the MMVP-style pair score.
 *
 * Run: node tools/experiments/mcl.mjs   (MCL_STEPS, MCL_STAGES, MCL_TRAIN, MCL_SIZE override the sizes)
 */
import { type Augmentation, type Dataset, EventBus, type FeatureExtractor, Rng, selectBackend } from '@genview/core';
import { cachedFeatures, extractFeatures, knnClassify, pairProbe, rawPixelFeatures } from '@genview/eval';
import { Trainer, backboneFeatures, buildBackbone, createRegistry, runMultistage } from '@genview/runner';
import { ViewPipeline, coloredDigitPairs, coloredDigits } from '@genview/views';

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
  /** Progress lines go here (the script prints them; the library never does). */
  log?: (line: string) => void;
}

export interface EncoderScores {
  encoder: string;
  digitKnn: number;
  colorKnn: number;
  digitPairs: number;
  colorPairs: number;
}

export interface ExperimentResult {
  backend: string;
  rows: EncoderScores[];
  seconds: number;
  setup: string;
}

export async function main(options: ExperimentOptions = {}): Promise<ExperimentResult> {
  const { steps = 600, stages = 2, trainImages = 5000, testImages = 1000, size = 16, batchSize = 128, seed = 0, colorNoise = 0.05 } = options;
  const { colorTarget = 'foreground', temperature = 0.2, baselines = true } = options;
  const log = options.log ?? (() => {});
  const started = performance.now();
  const backend = await selectBackend();
  const registry = createRegistry();
  const events = new EventBus();
  const train = coloredDigits({ count: trainImages, size, seed: 2 * seed, colorNoise, colorTarget, name: 'colored-digits/train' });
  const test = coloredDigits({ count: testImages, size, seed: 2 * seed + 1, colorNoise, colorTarget, name: 'colored-digits/test' });
  const splits = {
    digit: { train: train as Dataset, test: test as Dataset },
    color: { train: train.labelledBy('color'), test: test.labelledBy('color') },
  };
  const pairs = {
    digit: coloredDigitPairs({ pairs: 500, feature: 'digit', size, seed: 100 + seed, colorNoise, colorTarget }),
    color: coloredDigitPairs({ pairs: 500, feature: 'color', size, seed: 200 + seed, colorNoise, colorTarget }),
  };
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
        numClasses: 10,
        k: [20],
      });
      return result.top1;
    };
    const row: EncoderScores = {
      encoder: name,
      digitKnn: await knn(splits.digit),
      colorKnn: await knn(splits.color),
      digitPairs: (await pairProbe(frozen, pairs.digit)).pairAccuracy,
      colorPairs: (await pairProbe(frozen, pairs.color)).pairAccuracy,
    };
    rows.push(row);
    log(`${name.padEnd(28)} digit kNN ${pct(row.digitKnn)}  colour kNN ${pct(row.colorKnn)}  digit pairs ${pct(row.digitPairs)}  colour pairs ${pct(row.colorPairs)}`);
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
    rows,
    seconds,
    setup:
      `colored digits ${size}x${size} (train ${trainImages}, test ${testImages}, 10 digits x 10 colours ±${colorNoise} jitter, independent), crops only; ` +
      `colour on the ${colorTarget}; small-cnn [16,32,64], SimCLR NT-Xent T=${temperature}, Adam 2e-3 cosine, batch ${batchSize}; kNN k=20 weighted top-1; pairs: MMVP rule, 500 pairs`,
  };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}
