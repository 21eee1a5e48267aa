import { type EvalResult, GenviewError, Rng, definePlugin, z } from '@genview/core';
import { countClasses, labelledFeatures } from '../features';
import { fitSoftmax, scoreSoftmax } from '../probe';

export interface LinearProbeInput {
  /** Row-major [trainCount, dim]. */
  trainFeatures: Float32Array;
  trainLabels: Int32Array;
  /** Row-major [testCount, dim]. */
  testFeatures: Float32Array;
  testLabels: Int32Array;
  numClasses: number;
}

export interface LinearProbeOptions {
  /** L2 strengths tried; the one with the best validation top-1 is refit on all of train. */
  l2Grid?: number[];
  /** Share of train held out to choose λ (ignored when the grid has one value). */
  valFraction?: number;
  epochs?: number;
  batchSize?: number;
  /** Adam's peak learning rate, decayed to 0 by a cosine over all steps. */
  learningRate?: number;
  /** Fit on at most this many train rows (a seeded subset) to bound time. */
  maxTrain?: number;
  /** Seed for the split, subsets and batch order; the same seed gives the same numbers. */
  seed?: number;
  /** Standardise features with the train statistics (default true); see SoftmaxFitOptions.standardise. */
  standardise?: boolean;
}

export interface LinearProbeResult {
  top1: number;
  top5: number;
  /** The λ chosen on the validation split. */
  l2: number;
  /** Validation top-1 of every λ in the grid, in grid order. */
  validation: { l2: number; top1: number }[];
  trainSize: number;
  valSize: number;
  testSize: number;
  epochs: number;
}

export const LINEAR_PROBE_DEFAULTS = {
  l2Grid: [0, 1e-5, 1e-4, 1e-3, 1e-2],
  valFraction: 0.1,
  epochs: 10,
  batchSize: 1024,
  learningRate: 0.01,
  seed: 0,
  standardise: true,
} as const;

/**
 * Linear evaluation on frozen features: features standardised (unless told not to) with the statistics
 * of the rows being fit, multinomial logistic regression with an L2 penalty chosen from a grid on a held-out share of
 * train (ties go to the stronger penalty), then refit on all of train with that penalty and scored on
 * test. No augmentation: the features are computed once.
 */
export function linearProbe(input: LinearProbeInput, options: LinearProbeOptions = {}): LinearProbeResult {
  const { trainFeatures, trainLabels, testFeatures, testLabels, numClasses } = input;
  const grid = options.l2Grid ?? [...LINEAR_PROBE_DEFAULTS.l2Grid];
  const valFraction = options.valFraction ?? LINEAR_PROBE_DEFAULTS.valFraction;
  const epochs = options.epochs ?? LINEAR_PROBE_DEFAULTS.epochs;
  const batchSize = options.batchSize ?? LINEAR_PROBE_DEFAULTS.batchSize;
  const learningRate = options.learningRate ?? LINEAR_PROBE_DEFAULTS.learningRate;
  const rng = new Rng(options.seed ?? LINEAR_PROBE_DEFAULTS.seed);
  const nAll = trainLabels.length;
  if (nAll === 0 || testLabels.length === 0) {
    throw new GenviewError('EMPTY_DATASET', `the linear probe needs train and test samples, got ${nAll} and ${testLabels.length}.`, {
      where: 'linear probe',
    });
  }
  const dim = trainFeatures.length / nAll;
  if (!Number.isInteger(dim) || testFeatures.length !== testLabels.length * dim) {
    throw new GenviewError('BAD_SHAPE', `features must be [count, dim] row-major with one label per row.`, { where: 'linear probe' });
  }
  if (grid.length === 0 || grid.some((l) => !(l >= 0)) || !(valFraction > 0 && valFraction < 1) || !(epochs >= 1)) {
    throw new GenviewError('BAD_INPUT', `need a non-empty l2Grid of values ≥ 0, 0 < valFraction < 1 and epochs ≥ 1.`, { where: 'linear probe' });
  }

  const pool = rng.fork('subset').permutation(nAll);
  const train = options.maxTrain !== undefined && options.maxTrain < nAll ? pool.slice(0, options.maxTrain) : pool;
  const fit = { numClasses, epochs, batchSize, learningRate, standardise: options.standardise ?? LINEAR_PROBE_DEFAULTS.standardise };

  const validation: { l2: number; top1: number }[] = [];
  let chosen = grid[0];
  let valSize = 0;
  if (grid.length > 1) {
    valSize = Math.max(1, Math.round(valFraction * train.length));
    if (train.length - valSize < 1) {
      throw new GenviewError('BAD_INPUT', `${train.length} train rows are too few to hold out a validation split.`, { where: 'linear probe' });
    }
    const val = train.subarray(0, valSize);
    const rest = train.subarray(valSize);
    let best = -1;
    for (const l2 of grid) {
      const model = fitSoftmax(trainFeatures, trainLabels, dim, rest, { ...fit, l2, rng: rng.fork(`fit-${l2}`) });
      const { top1 } = scoreSoftmax(model, trainFeatures, trainLabels, val);
      validation.push({ l2, top1 });
      if (top1 > best || (top1 === best && l2 > chosen)) {
        best = top1;
        chosen = l2;
      }
    }
  }
  const model = fitSoftmax(trainFeatures, trainLabels, dim, train, { ...fit, l2: chosen, rng: rng.fork('refit') });
  const testRows = Int32Array.from({ length: testLabels.length }, (_, i) => i);
  const { top1, top5 } = scoreSoftmax(model, testFeatures, testLabels, testRows);
  return { top1, top5, l2: chosen, validation, trainSize: train.length, valSize, testSize: testLabels.length, epochs };
}

export const linearProbeConfig = z
  .object({
    l2Grid: z.array(z.number().nonnegative()).nonempty().default([...LINEAR_PROBE_DEFAULTS.l2Grid]),
    valFraction: z.number().gt(0).lt(1).default(LINEAR_PROBE_DEFAULTS.valFraction),
    epochs: z.number().int().positive().default(LINEAR_PROBE_DEFAULTS.epochs),
    /** Rows per Adam step. */
    batchSize: z.number().int().positive().default(LINEAR_PROBE_DEFAULTS.batchSize),
    learningRate: z.number().positive().default(LINEAR_PROBE_DEFAULTS.learningRate),
    /** Fit on at most this many train rows (seeded subset). */
    maxTrain: z.number().int().positive().optional(),
    /** Images per encoder call while extracting features. */
    extractBatchSize: z.number().int().positive().default(256),
    /** Embed only a seeded subset of this many train / test images. */
    limitTrain: z.number().int().positive().optional(),
    limitTest: z.number().int().positive().optional(),
    seed: z.number().int().default(LINEAR_PROBE_DEFAULTS.seed),
    /** Standardise features with the train statistics; off for raw-pixel baselines. */
    standardise: z.boolean().default(LINEAR_PROBE_DEFAULTS.standardise),
  })
  .strict();

export const linearProbePlugin = definePlugin({
  kind: 'evaluator',
  name: 'linear-probe',
  package: '@genview/eval',
  description:
    'Linear probe on frozen (by default standardised) features: softmax regression (Adam, cosine decay), L2 chosen on a validation split, refit on train, test top-1/top-5.',
  configSchema: linearProbeConfig,
  create: (config, context) => ({
    name: 'linear-probe',
    async evaluate(encoder, data): Promise<EvalResult> {
      const common = { rng: context.rng, batchSize: config.extractBatchSize, events: context.events };
      const train = await labelledFeatures(encoder, data.train, 'train', 'linear-probe', { ...common, limit: config.limitTrain });
      const test = await labelledFeatures(encoder, data.test, 'test', 'linear-probe', { ...common, limit: config.limitTest });
      const numClasses = countClasses(data, train.labels, test.labels);
      const result = linearProbe(
        { trainFeatures: train.set.features, trainLabels: train.labels, testFeatures: test.set.features, testLabels: test.labels, numClasses },
        config,
      );
      const metrics: Record<string, number> = { linear_top1: result.top1, linear_top5: result.top5, linear_l2: result.l2 };
      for (const v of result.validation) metrics[`linear_val_top1@l2=${v.l2}`] = v.top1;
      return {
        evaluator: 'linear-probe',
        metrics,
        description:
          `linear probe on frozen encoder features (D=${train.set.dim}, ${config.standardise ? 'standardised' : 'not standardised'}): softmax regression, Adam lr=${config.learningRate} cosine, ` +
          `${config.epochs} epochs, batch ${config.batchSize}; L2 ${result.l2} chosen from [${config.l2Grid.join(', ')}] on ` +
          `${result.valSize} held-out train rows, refit on ${result.trainSize} train rows of ${data.train.info.name}; ` +
          `test ${data.test.info.name} n=${result.testSize}, ${numClasses} classes; no augmentation, seed ${config.seed}`,
      };
    },
  }),
});
