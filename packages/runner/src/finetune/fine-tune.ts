import {
  type Augmentation,
  type Backbone,
  type Dataset,
  type EvalResult,
  type EventBus,
  GenviewError,
  type Module,
  Rng,
  type Tensor4D,
  tf,
} from '@genview/core';
import { balancedSubset } from '@genview/eval';
import { createOptimizer } from '../optim/create';
import { cosineWithWarmup } from '../optim/schedule';
import { namespacedVariables } from '../trainer/named-variables';
import { linearClassifier } from './linear-classifier';

export interface FineTuneSettings {
  /** Labelled shares of train, each fine-tuned from the same starting weights. */
  fractions: number[];
  /** Optimizer steps per fraction. */
  steps: number;
  batchSize: number;
  /** Peak learning rate of Nesterov SGD (momentum 0.9, no weight decay, cosine to 0), as SimCLR fine-tunes. */
  lr: number;
  seed: number;
  /** Test images scored per forward pass. */
  evalBatchSize: number;
}

export interface FineTuneParts {
  /** A fresh backbone holding the starting weights; called once per fraction, disposed here. */
  makeBackbone: () => Promise<Backbone>;
  /** Label-preserving augmentation applied to every training batch (crop and flip in SimCLR's recipe). */
  augment: Augmentation;
  data: { train: Dataset; test: Dataset };
  events: EventBus;
}

export interface FineTuneResult {
  fraction: number;
  labelled: number;
  top1: number;
  top5: number;
  finalLoss: number;
}

function labelsOf(dataset: Dataset, role: string): Int32Array {
  if (!dataset.labels) {
    throw new GenviewError('BAD_INPUT', `semi-supervised fine-tuning needs labels, and the ${role} dataset ${dataset.info.name} has none.`, {
      where: 'eval.finetune',
      fix: `use a labelled ${role} dataset or remove eval.finetune.`,
    });
  }
  return dataset.labels;
}

/**
 * Semi-supervised fine-tuning (SimCLR's protocol at our scale): for each labelled fraction, a
 * class-balanced subset of train, the whole network (backbone and a new linear classifier) trained end
 * to end with cross-entropy on augmented batches, then scored on all of test in inference mode.
 */
export async function fineTuneSemiSupervised(settings: FineTuneSettings, parts: FineTuneParts): Promise<FineTuneResult[]> {
  const trainLabels = labelsOf(parts.data.train, 'train');
  const testLabels = labelsOf(parts.data.test, 'test');
  let numClasses = 0;
  for (const labels of [trainLabels, testLabels]) for (const y of labels) numClasses = Math.max(numClasses, y + 1);
  const results: FineTuneResult[] = [];
  for (const fraction of settings.fractions) {
    const subset = balancedSubset(trainLabels, fraction, numClasses, settings.seed);
    const backbone = await parts.makeBackbone();
    const rng = new Rng(settings.seed).fork(`finetune-${fraction}`);
    const classifier = linearClassifier(backbone.featureDim, numClasses, rng.fork('classifier'));
    try {
      const finalLoss = await trainOnSubset(settings, parts, { backbone, classifier, subset, labels: trainLabels, numClasses, rng });
      const { top1, top5 } = await scoreOnTest(settings, parts.data.test, testLabels, backbone, classifier);
      parts.events.log('finetune', `${(fraction * 100).toPrecision(3)}% labels (${subset.length}): top-1 ${(top1 * 100).toFixed(2)}%`);
      results.push({ fraction, labelled: subset.length, top1, top5, finalLoss });
    } finally {
      backbone.dispose();
      classifier.dispose();
    }
  }
  return results;
}

interface SubsetTraining {
  backbone: Backbone;
  classifier: Module;
  subset: Int32Array;
  labels: Int32Array;
  numClasses: number;
  rng: Rng;
}

async function trainOnSubset(settings: FineTuneSettings, parts: FineTuneParts, run: SubsetTraining): Promise<number> {
  const { backbone, classifier, subset, labels, numClasses, rng } = run;
  const modules: Module[] = [backbone, classifier];
  const variables = namespacedVariables(modules);
  const trainable = variables.filter((v) => v.trainable);
  const optimizer = createOptimizer({ name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 0 }, variables, { path: 'eval.finetune' });
  const schedule = cosineWithWarmup({ baseLr: settings.lr, totalSteps: settings.steps });
  const batchSize = Math.min(settings.batchSize, subset.length);
  const order = rng.fork('order');
  let queue: number[] = [];
  let loss = Number.NaN;
  try {
    for (let step = 0; step < settings.steps; step++) {
      // Epochs over the subset in a fresh seeded order each time, so every labelled image is seen equally often.
      if (queue.length < batchSize) queue = queue.concat(Array.from(order.permutation(subset.length), (i) => subset[i] as number));
      const indices = Int32Array.from(queue.splice(0, batchSize));
      const batch = await parts.data.train.read(indices);
      const stepRng = rng.fork(`step-${step}`);
      const images = tf.tidy(() => parts.augment.apply(batch.images, parts.augment.sampleParams(stepRng, indices.length, parts.data.train.info.imageShape)));
      batch.images.dispose();
      const targets = tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(indices, (i) => labels[i] as number), 'int32'), numClasses));
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(targets, classifier.apply(backbone.apply(images, { training: true }), { training: true })) as tf.Scalar,
        trainable.map((v) => v.variable),
      );
      const byName = new Map<string, tf.Tensor>();
      for (const v of trainable) {
        const g = grads[v.variable.name];
        if (g) byName.set(v.name, g);
      }
      optimizer.step(byName, schedule(step));
      loss = (await value.data())[0] as number;
      tf.dispose([value, images, targets, ...Object.values(grads)]);
    }
  } finally {
    optimizer.dispose();
  }
  return loss;
}

async function scoreOnTest(settings: FineTuneSettings, test: Dataset, labels: Int32Array, backbone: Backbone, classifier: Module) {
  let hits1 = 0;
  let hits5 = 0;
  for (let start = 0; start < test.info.size; start += settings.evalBatchSize) {
    const indices = Int32Array.from({ length: Math.min(settings.evalBatchSize, test.info.size - start) }, (_, i) => start + i);
    const batch = await test.read(indices);
    const logits = tf.tidy(() => classifier.apply(backbone.apply(batch.images as Tensor4D, { training: false }), { training: false }) as tf.Tensor2D);
    const { values, indices: top } = tf.topk(logits, Math.min(5, logits.shape[1]));
    const ranked = (await top.array()) as number[][];
    tf.dispose([logits, values, top, batch.images]);
    ranked.forEach((row, i) => {
      const y = labels[indices[i] as number];
      if (row[0] === y) hits1++;
      if (row.includes(y as number)) hits5++;
    });
  }
  return { top1: hits1 / test.info.size, top5: hits5 / test.info.size };
}

/** The fine-tuning results as an evaluator-style result, so they print and save beside kNN and the probe. */
export function fineTuneEvalResult(results: FineTuneResult[], settings: FineTuneSettings, data: { train: Dataset; test: Dataset }): EvalResult {
  const metrics: Record<string, number> = {};
  const percent = (f: number) => `${Number((f * 100).toPrecision(3))}%`;
  for (const r of results) {
    metrics[`finetune_top1@${percent(r.fraction)}`] = r.top1;
    metrics[`finetune_top5@${percent(r.fraction)}`] = r.top5;
  }
  return {
    evaluator: 'semi-supervised fine-tuning',
    metrics,
    description:
      `backbone + linear classifier fine-tuned end to end on class-balanced labelled subsets of ${data.train.info.name} ` +
      `(${results.map((r) => `${percent(r.fraction)} = ${r.labelled} labels`).join(', ')}), ${settings.steps} steps of batch ${settings.batchSize}, ` +
      `Nesterov SGD lr ${settings.lr} cosine, crop+flip; test ${data.test.info.name} n=${data.test.info.size}`,
  };
}
