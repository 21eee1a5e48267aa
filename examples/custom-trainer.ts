/**
 * A custom trainer in a few lines: pick the parts by hand (no YAML), train with the library's Trainer
 * and measure the encoder with kNN next to a random encoder of the same architecture.
 */
import { EventBus, Rng, selectBackend, backboneFeatures, buildBackbone } from '@genview/core';
import { cachedFeatures } from '@genview/eval';
import { Trainer, createRegistry } from '@genview/runner';
import { presetPipelines } from '@genview/views';

export interface CustomTrainerResult {
  trainedKnn: number;
  randomKnn: number;
  backend: string;
}

export async function main({ steps = 300, batchSize = 128, trainImages = 10_000, testImages = 2_000, seed = 0 } = {}): Promise<CustomTrainerResult> {
  const backend = await selectBackend();
  const registry = createRegistry();
  const events = new EventBus();
  const context = { rng: new Rng(seed), events };

  const train = await registry.create('dataset', { name: 'fashion-mnist', split: 'train', limit: trainImages }, context);
  const test = await registry.create('dataset', { name: 'fashion-mnist', split: 'test', limit: testImages }, context);
  const shape = train.info.imageShape;
  const backboneRef = { name: 'small-cnn', widths: [16, 32, 64, 128] };
  const framework = await registry.create(
    'framework',
    { name: 'simclr', inputShape: shape, backbone: backboneRef, projector: { name: 'mlp-projector', hiddenDim: 256, outDim: 64 } },
    { ...context, path: 'framework' },
  );

  const trainer = new Trainer({
    framework,
    data: train,
    views: presetPipelines('simclr', [shape[0], shape[1]]),
    optimizer: { name: 'adamw', weightDecay: 1e-4 },
    learningRate: (step) => 2e-3 * 0.5 * (1 + Math.cos((Math.PI * step) / steps)),
    totalSteps: steps,
    batchSize,
    seed,
    events,
  });
  await trainer.run();
  trainer.dispose();

  const knn = await registry.create('evaluator', { name: 'knn', k: [20] }, context);
  const data = { train, test };
  const trained = await knn.evaluate(cachedFeatures(framework.encoder()), data);
  const random = await buildBackbone({ ...context, rng: new Rng(seed).fork('random'), registry, path: 'random' }, backboneRef, shape);
  const baseline = await knn.evaluate(cachedFeatures(backboneFeatures(random)), data);
  framework.dispose();
  random.dispose();
  return { trainedKnn: trained.metrics['knn_top1@20'], randomKnn: baseline.metrics['knn_top1@20'], backend: backend.chosen };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then((r) => console.log(`kNN top-1@20 on ${r.backend}: trained ${(100 * r.trainedKnn).toFixed(2)}% vs random ${(100 * r.randomKnn).toFixed(2)}%`));
}
