import { EventBus, Rng, type Tokenizer, tf } from '@genview/core';
import { createRegistry } from '@genview/runner';
import { describe, expect, it } from 'vitest';
import { CHANCE, SHAPES, COLOR_PROMPTS, cli, metricOf, shapesConfig } from './vision-language-run';

const ZERO_SHOT = 'zeroshot_top1';


describe('slip framework', () => {
  it('trained from `genview train` on captioned shapes, zero-shot beats chance and the same SLIP at random init', async () => {
    const crop = { name: 'random-resized-crop', size: SHAPES.size, scale: [0.7, 1], ratio: [0.9, 1.1] };
    const strong = [{ name: 'random-resized-crop', size: SHAPES.size, scale: [0.4, 1] }, 'horizontal-flip'];
    const run = shapesConfig({
      framework: { name: 'slip', projector: { name: 'mlp-projector', hiddenDim: 64, outDim: 32 }, sslWeight: 1 },
      steps: 50,
      views: [[crop], strong, strong],
      evaluators: [{ name: 'zero-shot', templates: COLOR_PROMPTS }, { name: 'knn', k: [20] }],
    });
    await cli(['train', '--config', run.file]);
    const trained = metricOf(run.outDir, 0, 'zero-shot', ZERO_SHOT) as number;
    const random = metricOf(run.outDir, 1, 'zero-shot', ZERO_SHOT) as number;
    expect(trained, `zero-shot ${trained} vs chance ${CHANCE}`).toBeGreaterThan(CHANCE + 0.25);
    expect(trained, `zero-shot ${trained} vs random-init SLIP ${random}`).toBeGreaterThan(random + 0.2);
    const knn = metricOf(run.outDir, 0, 'knn', 'knn_top1@20') as number;
    expect(knn, 'kNN on the image backbone beats its random init').toBeGreaterThan(metricOf(run.outDir, 1, 'knn', 'knn_top1@20') as number);
  }, 180_000);

  it('adds sslWeight times the SimCLR term to the CLIP term', async () => {
    const registry = createRegistry();
    const tokenizer: Tokenizer = {
      vocabSize: 8,
      contextLength: 4,
      eosTokenId: 7,
      encodeBatch: (texts) => ({ ids: Int32Array.from({ length: texts.length * 4 }, (_, i) => (i % 4 === 3 ? 7 : (i * 3) % 7)), shape: [texts.length, 4] }),
    };
    const build = (sslWeight: number) =>
      registry.create(
        'framework',
        {
          name: 'slip',
          inputShape: [16, 16, 3],
          backbone: { name: 'small-cnn', widths: [4, 8] },
          text: { name: 'text-transformer', width: 8, layers: 1, heads: 2 },
          projector: { name: 'mlp-projector', hiddenDim: 8, outDim: 4 },
          jointDim: 8,
          sslWeight,
        },
        { rng: new Rng(3), events: new EventBus(), path: 'framework', services: { tokenizer: () => tokenizer } },
      );
    const rng = new Rng(5);
    const views = [0, 1, 2].map(() => tf.tensor4d(rng.uniformArray(4 * 16 * 16 * 3), [4, 16, 16, 3]));
    const batch = { views, indices: Int32Array.from([0, 1, 2, 3]), captions: ['a', 'b', 'c', 'd'] };
    const losses = [];
    for (const weight of [0, 1, 2]) {
      const framework = await build(weight);
      const loss = framework.loss(batch, 0);
      losses.push(loss.dataSync()[0] as number);
      loss.dispose();
      framework.dispose();
    }
    const [clipOnly, one, two] = losses as [number, number, number];
    // Same seed, same weights: the totals differ by exactly the SSL term, linearly in its weight.
    expect(two - one).toBeCloseTo(one - clipOnly, 4);
    expect(one - clipOnly).toBeGreaterThan(0.1);

    // Quality weights are scored on views 0 and 1: with three views they weight the CLIP pair only (the
    // SimCLR pair is views 1 and 2); with two views, both terms.
    const weights = tf.tensor1d([2, 0.5, 1, 0.5]);
    const change = async (sslWeight: number, viewCount: number) => {
      const framework = await build(sslWeight);
      const used = { ...batch, views: views.slice(0, viewCount) };
      const [plain, weighted] = [framework.loss(used, 0), framework.loss({ ...used, weights }, 0)];
      const delta = (weighted.dataSync()[0] as number) - (plain.dataSync()[0] as number);
      tf.dispose([plain, weighted]);
      framework.dispose();
      return delta;
    };
    expect(await change(1, 3)).toBeCloseTo(await change(0, 3), 5);
    expect(Math.abs((await change(1, 2)) - (await change(0, 2)))).toBeGreaterThan(1e-3);
    weights.dispose();
    for (const v of views) v.dispose();
  }, 60_000);
});
