import { type EvalResult, GenviewError, Rng, definePlugin, z } from '@genview/core';
import { countClasses, labelledFeatures } from '../features';
import { LINEAR_PROBE_DEFAULTS, type LinearProbeInput, type LinearProbeOptions, linearProbe, linearProbeConfig } from './linear-probe';

/**
 * A class-balanced labelled subset: `round(fraction · N / classes)` samples of every class (at least 1,
 * at most what the class has), drawn with a seeded RNG, returned sorted. This mirrors the 1 % / 10 %
 * ImageNet subsets of SimCLR, which hold about the same number of images per class.
 */
export function balancedSubset(labels: Int32Array, fraction: number, numClasses: number, seed: number): Int32Array {
  if (!(fraction > 0 && fraction <= 1)) {
    throw new GenviewError('BAD_INPUT', `a labelled fraction must be in (0, 1], got ${fraction}.`, { where: 'semi-supervised' });
  }
  const perClass = Math.max(1, Math.round((fraction * labels.length) / numClasses));
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]]?.push(i);
  const rng = new Rng(seed);
  const picked: number[] = [];
  for (const members of byClass) {
    const order = rng.permutation(members.length);
    for (let j = 0; j < Math.min(perClass, members.length); j++) picked.push(members[order[j]]);
  }
  return Int32Array.from(picked).sort();
}

export interface SemiSupervisedResult {
  fraction: number;
  labelled: number;
  top1: number;
  top5: number;
  l2: number;
}

/**
 * Frozen-feature semi-supervised evaluation: for each labelled fraction, a linear probe (with its own
 * λ selection on a held-out share of the subset) is trained on a class-balanced subset of train and
 * scored on all of test. The encoder is not fine-tuned.
 */
export function semiSupervisedProbe(
  input: LinearProbeInput,
  fractions: number[] = [0.01, 0.1],
  options: LinearProbeOptions = {},
): SemiSupervisedResult[] {
  const dim = input.trainFeatures.length / Math.max(1, input.trainLabels.length);
  const seed = options.seed ?? LINEAR_PROBE_DEFAULTS.seed;
  return fractions.map((fraction) => {
    const subset = balancedSubset(input.trainLabels, fraction, input.numClasses, seed);
    const trainFeatures = new Float32Array(subset.length * dim);
    subset.forEach((row, i) => {
      trainFeatures.set(input.trainFeatures.subarray(row * dim, (row + 1) * dim), i * dim);
    });
    const trainLabels = Int32Array.from(subset, (row) => input.trainLabels[row]);
    const result = linearProbe({ ...input, trainFeatures, trainLabels }, options);
    return { fraction, labelled: subset.length, top1: result.top1, top5: result.top5, l2: result.l2 };
  });
}

const percent = (f: number): string => `${Number((f * 100).toPrecision(3))}%`;

export const semiSupervisedPlugin = definePlugin({
  kind: 'evaluator',
  name: 'semi-supervised',
  package: '@genview/eval',
  description:
    'Frozen-feature semi-supervised protocol (not fine-tuning): a linear probe trained on 1% and 10% class-balanced labelled subsets of train.',
  configSchema: linearProbeConfig.extend({
    fractions: z.array(z.number().gt(0).lte(1)).nonempty().default([0.01, 0.1]),
    // A few hundred labelled rows make an epoch only a handful of steps.
    epochs: z.number().int().positive().default(100),
    batchSize: z.number().int().positive().default(256),
  }),
  create: (config, context) => ({
    name: 'semi-supervised',
    async evaluate(encoder, data): Promise<EvalResult> {
      const common = { rng: context.rng, batchSize: config.extractBatchSize, events: context.events };
      const train = await labelledFeatures(encoder, data.train, 'train', 'semi-supervised', { ...common, limit: config.limitTrain });
      const test = await labelledFeatures(encoder, data.test, 'test', 'semi-supervised', { ...common, limit: config.limitTest });
      const numClasses = countClasses(data, train.labels, test.labels);
      const results = semiSupervisedProbe(
        { trainFeatures: train.set.features, trainLabels: train.labels, testFeatures: test.set.features, testLabels: test.labels, numClasses },
        config.fractions,
        config,
      );
      const metrics: Record<string, number> = {};
      for (const r of results) {
        metrics[`semi_top1@${percent(r.fraction)}`] = r.top1;
        metrics[`semi_top5@${percent(r.fraction)}`] = r.top5;
        metrics[`semi_labelled@${percent(r.fraction)}`] = r.labelled;
      }
      return {
        evaluator: 'semi-supervised',
        metrics,
        description:
          `frozen-feature semi-supervised protocol (the encoder is NOT fine-tuned): linear probe on standardised frozen features ` +
          `(D=${train.set.dim}) trained on class-balanced labelled subsets of ${data.train.info.name} ` +
          `(${results.map((r) => `${percent(r.fraction)} = ${r.labelled} labels`).join(', ')}; seed ${config.seed}), ` +
          `L2 from [${config.l2Grid.join(', ')}] on ${Math.round(config.valFraction * 100)}% of each subset, Adam ${config.epochs} epochs, ` +
          `batch ${config.batchSize}; test ${data.test.info.name} n=${test.labels.length}, ${numClasses} classes`,
      };
    },
  }),
});
