// What GenView's quality scorer adds to a training step: SimCLR with the small CNN on Fashion-MNIST,
// batch 256, timed without a scorer and with `genview-fg-bg` (a frozen small CNN's patch tokens), in
// the same process and interleaved so both see the same machine. Target from the quality issue:
// the scorer adds at most 25 % to a step.
//
//   npm run bench:quality            (builds, then runs)
//   node bench/quality-overhead.mjs --steps 8 --repeats 2 --batch 256
import { EventBus, Rng, selectBackend, backboneFeatures, buildBackbone } from '@genview/core';
import { createGenviewFgBgScorer } from '@genview/quality';
import { buildViewPipelines, createRegistry, Trainer } from '@genview/runner';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const steps = arg('steps', 8);
const repeats = arg('repeats', 2);
const batchSize = arg('batch', 256);
const warmup = 2;

const events = new EventBus();
const backend = await selectBackend({ events });
const registry = createRegistry();
const context = (seed) => ({ rng: new Rng(seed), events, registry, path: 'bench' });
const data = await registry.create('dataset', { name: 'fashion-mnist', split: 'train', limit: batchSize * (warmup + steps) }, context(0));
const shape = data.info.imageShape;
const views = await buildViewPipelines({ preset: 'simclr' }, registry, shape, context(1));
const frozen = await buildBackbone(context(2), 'small-cnn', shape, 'bench.frozen');
const extractor = backboneFeatures(frozen);
const vector = new Rng(3).normalArray(frozen.featureDim);
const norm = Math.hypot(...vector);
const direction = { vector: vector.map((v) => v / norm), threshold: 0 };

async function msPerStep(withQuality) {
  const framework = await registry.create('framework', { name: 'simclr', backbone: 'small-cnn', inputShape: shape }, context(4));
  const quality = withQuality ? createGenviewFgBgScorer({ extractor, direction }) : undefined;
  const trainer = new Trainer({
    framework,
    data,
    views,
    optimizer: { name: 'sgd' },
    learningRate: () => 0.01,
    totalSteps: warmup + steps,
    batchSize,
    seed: 0,
    quality,
    events,
  });
  for (let s = 0; s < warmup; s++) await trainer.step(s);
  const started = performance.now();
  for (let s = warmup; s < warmup + steps; s++) await trainer.step(s);
  const ms = (performance.now() - started) / steps;
  trainer.dispose();
  framework.dispose();
  return ms;
}

const plain = [];
const scored = [];
for (let r = 0; r < repeats; r++) {
  plain.push(await msPerStep(false));
  scored.push(await msPerStep(true));
}
const best = (xs) => Math.min(...xs);
const result = {
  backend: backend.chosen,
  batchSize,
  steps,
  repeats,
  msPerStep: { plain: best(plain), genviewFgBg: best(scored) },
  overhead: best(scored) / best(plain) - 1,
};
console.log(JSON.stringify(result));
console.log(
  `SimCLR small CNN batch ${batchSize} on ${backend.chosen}: ${best(plain).toFixed(0)} ms/step plain, ${best(scored).toFixed(0)} ms/step with genview-fg-bg ` +
    `(best of ${repeats}): the scorer adds ${(100 * result.overhead).toFixed(1)} % (target ≤ 25 %).`,
);
frozen.dispose();
