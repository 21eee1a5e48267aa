import { type Dataset, type EvalResult, type EventBus, type FeatureExtractor, GenviewError } from '@genview/core';
import { balancedSubset, extractFeatures, knnClassify, semiSupervisedProbe } from '@genview/eval';

export interface FrozenBaselineSettings {
  /** The labelled shares fine-tuning uses; the subsets are the same class-balanced draws (same seed). */
  fractions: number[];
  /** The run's seed, which fine-tuning draws its subsets with. */
  seed: number;
  /** Images per encoder call. */
  batchSize: number;
  /** Neighbours of the kNN vote (clamped to the subset size). */
  k?: number;
}

const percent = (f: number): string => `${Number((f * 100).toPrecision(3))}%`;

function labelsOf(dataset: Dataset, role: string, name: string): Int32Array {
  if (!dataset.labels) {
    throw new GenviewError('BAD_INPUT', `the frozen baseline of ${name} needs labels, and the ${role} dataset ${dataset.info.name} has none.`, {
      where: 'eval.finetune.frozen',
      fix: `use a labelled ${role} dataset or remove eval.finetune.frozen.`,
    });
  }
  return dataset.labels;
}

/**
 * The frozen-encoder arm of the fine-tuning comparison: an encoder that cannot be fine-tuned here (an
 * ONNX model runs in onnxruntime) is measured on the very labelled subsets fine-tuning trains on, by a
 * linear probe and a kNN vote on its frozen features, and scored on all of test. The encoder is never
 * trained, so the row says what fine-tuning adds over frozen features at the same label budget.
 */
export async function frozenFractionBaseline(
  name: string,
  encoder: FeatureExtractor,
  settings: FrozenBaselineSettings,
  data: { train: Dataset; test: Dataset },
  events?: EventBus,
): Promise<EvalResult> {
  const trainLabels = labelsOf(data.train, 'train', name);
  const testLabels = labelsOf(data.test, 'test', name);
  let numClasses = 0;
  for (const labels of [trainLabels, testLabels]) for (const y of labels) numClasses = Math.max(numClasses, y + 1);
  const train = await extractFeatures(encoder, data.train, { batchSize: settings.batchSize, events, task: `frozen baseline ${name}: train features` });
  const test = await extractFeatures(encoder, data.test, { batchSize: settings.batchSize, events, task: `frozen baseline ${name}: test features` });
  const input = { trainFeatures: train.features, trainLabels, testFeatures: test.features, testLabels, numClasses };
  // The semi-supervised evaluator's probe settings: a few hundred labelled rows need more epochs than the full probe.
  const linear = semiSupervisedProbe(input, settings.fractions, { seed: settings.seed, epochs: 100, batchSize: 256 });
  const k = settings.k ?? 20;
  const metrics: Record<string, number> = {};
  const dim = train.dim;
  for (const [i, fraction] of settings.fractions.entries()) {
    const subset = balancedSubset(trainLabels, fraction, numClasses, settings.seed);
    const features = new Float32Array(subset.length * dim);
    for (const [r, row] of subset.entries()) features.set(train.features.subarray(row * dim, (row + 1) * dim), r * dim);
    const [knn] = knnClassify({ ...input, trainFeatures: features, trainLabels: Int32Array.from(subset, (row) => trainLabels[row] as number), k: [k] });
    const probe = linear[i];
    metrics[`frozen_linear_top1@${percent(fraction)}`] = probe?.top1 ?? Number.NaN;
    metrics[`frozen_knn_top1@${percent(fraction)}`] = knn?.top1 ?? Number.NaN;
    events?.log('finetune', `${name} frozen, ${percent(fraction)} labels (${subset.length}): linear ${((probe?.top1 ?? 0) * 100).toFixed(2)}%, kNN@${knn?.k} ${((knn?.top1 ?? 0) * 100).toFixed(2)}%`);
  }
  return {
    evaluator: 'frozen-feature baseline',
    metrics,
    description:
      `${name} frozen (NOT fine-tuned), D=${dim}: linear probe (standardised features, L2 chosen on 10% of each subset, Adam 100 epochs) and ` +
      `weighted kNN (k=${k}, clamped to the subset) on the class-balanced labelled subsets of ${data.train.info.name} that eval.finetune trains on ` +
      `(${linear.map((r) => `${percent(r.fraction)} = ${r.labelled} labels`).join(', ')}; seed ${settings.seed}); test ${data.test.info.name} n=${testLabels.length}`,
  };
}
