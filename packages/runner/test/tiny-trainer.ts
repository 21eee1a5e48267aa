import { type Dataset, EventBus, type QualityScorer, Rng, tf } from '@genview/core';
import { inMemoryDataset } from '@genview/datasets';
import { Trainer, type TrainerOptions, createRegistry } from '@genview/runner';
import { ViewPipeline } from '@genview/views';

/** 64 random 8x8 grey images: enough for a Trainer to step, log and checkpoint in well under a second. */
export function tinyData(): Dataset {
  return inMemoryDataset(new Rng(3).uniformArray(64 * 8 * 8), [64, 8, 8, 1]);
}

/** Weights every pair by its row index (mean 1), so logged weight statistics are known in advance. */
export const rowWeights: QualityScorer = {
  name: 'row-weights',
  pairWeights: ({ views }) => tf.tidy(() => tf.div(tf.add(tf.range(0, views[0].shape[0]), 1), (views[0].shape[0] + 1) / 2)) as tf.Tensor1D,
};

/**
 * A SimCLR Trainer on tinyData with a two-layer CNN and two crop views, writing to outDir; `options`
 * sets the schedule, logging and checkpoint cadence each test is about.
 */
export async function makeTinyTrainer(outDir: string, options: Partial<TrainerOptions> & Pick<TrainerOptions, 'totalSteps'>) {
  const registry = createRegistry();
  const context = { rng: new Rng(11), events: new EventBus() };
  const framework = await registry.create(
    'framework',
    { name: 'simclr', inputShape: [8, 8, 1], backbone: { name: 'small-cnn', widths: [4, 8] }, projector: { name: 'mlp-projector', hiddenDim: 16, outDim: 8 } },
    { ...context, path: 'framework' },
  );
  const views = await Promise.all(
    [0, 1].map(async (v) => new ViewPipeline([await registry.create('augment', { name: 'random-resized-crop', size: 8, scale: [0.5, 1] }, { ...context, path: `v${v}` })])),
  );
  const trainer = new Trainer({
    framework,
    data: tinyData(),
    views,
    optimizer: { name: 'sgd', momentum: 0.9 },
    learningRate: () => 0.05,
    batchSize: 16,
    seed: 5,
    outDir,
    ...options,
  });
  return { trainer, framework };
}
