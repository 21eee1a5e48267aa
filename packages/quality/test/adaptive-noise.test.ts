import { type FeatureExtractor, Registry, Rng, type Tensor2D, type Tensor3D, type Tensor4D, tf } from '@genview/core';
import { describe, expect, it } from 'vitest';
import { AdaptiveNoiseConditioning, adaptiveNoisePlugin, fitForegroundDirection } from '../src/index';
import { D, add, basis, gridExtractor, images, tokenMap } from './synthetic';

const H = 5;
const W = 5;

describe('genview-adaptive-noise on token maps with known foreground area', () => {
  it('bins the foreground ratio into GenView noise levels', async () => {
    const rng = new Rng(0);
    const fg = add(basis(0, 2), basis(2, 0.2));
    const bg = basis(1, 1);
    // 3, 8, 13, 18 and 24 of 25 tokens: ratios 0.12, 0.32, 0.52, 0.72, 0.96.
    const counts = [3, 8, 13, 18, 24];
    const batch = images(counts.map((c) => tokenMap(H, W, c, fg, bg, 0.05, rng)), H, W);
    const conditioning = new AdaptiveNoiseConditioning({ strategy: 'adaptive' }, { extractor: gridExtractor, direction: { vector: basis(0), threshold: 1 } });
    const ratios = await conditioning.foregroundRatios({ indices: Int32Array.from([0, 1, 2, 3, 4]), images: batch });
    expect(Array.from(ratios)).toEqual(counts.map((c) => c / 25));
    const params = await conditioning.decide({ indices: Int32Array.from([0, 1, 2, 3, 4]), images: batch }, new Rng(1));
    expect(params.map((p) => p.noiseLevel)).toEqual([0, 100, 200, 300, 400]);
    expect(params.every((p) => p.source === 'image')).toBe(true);
    batch.dispose();
  });

  it('uses custom bins', async () => {
    const rng = new Rng(2);
    const batch = images([tokenMap(H, W, 5, basis(0, 2), basis(1), 0, rng), tokenMap(H, W, 20, basis(0, 2), basis(1), 0, rng)], H, W);
    const conditioning = new AdaptiveNoiseConditioning(
      { strategy: 'adaptive', bins: { edges: [0.5], levels: [10, 700] } },
      { extractor: gridExtractor, direction: { vector: basis(0), threshold: 1 } },
    );
    const params = await conditioning.decide({ indices: Int32Array.from([0, 1]), images: batch }, new Rng(0));
    expect(params.map((p) => p.noiseLevel)).toEqual([10, 700]);
    batch.dispose();
  });
});

/** 4x4-pixel patches as tokens: [mean intensity, 1 - mean intensity], so bright patches are foreground. */
const patchExtractor: FeatureExtractor = {
  featureDim: 2,
  embed: (x: Tensor4D) => tf.tidy(() => tf.mean(x, [1, 2]) as Tensor2D),
  patchTokens: (x: Tensor4D) =>
    tf.tidy(() => {
      const pooled = tf.avgPool(x, 4, 4, 'valid');
      const tokens = tf.concat([pooled, tf.sub(1, pooled)], 3);
      return tf.reshape(tokens, [x.shape[0], -1, 2]) as Tensor3D;
    }),
};

/** Bright squares aligned to the 4x4 patch grid, about centred: a side of 8 px covers exactly 2x2 patches. */
function squares(sides: number[]): Tensor4D {
  const data = new Float32Array(sides.length * 28 * 28);
  sides.forEach((side, n) => {
    const start = 4 * Math.floor((7 - side / 4) / 2);
    for (let y = start; y < start + side; y++) for (let x = start; x < start + side; x++) data[n * 784 + y * 28 + x] = 1;
  });
  return tf.tensor4d(data, [sides.length, 28, 28, 1]);
}

describe('genview-adaptive-noise on images whose subject size is known', () => {
  it('gives bigger subjects more noise, with a direction fitted on the images', async () => {
    // Centred squares of 8, 16, 20, 24 and 28 pixels cover 4, 16, 25, 36 and 49 of the 49 patches.
    const fit = squares([8, 12, 16, 20, 24, 28, 8, 16]);
    const tokens = patchExtractor.patchTokens?.(fit) as Tensor3D;
    const direction = await fitForegroundDirection(tokens, { grid: [7, 7] });
    tokens.dispose();
    fit.dispose();
    const batch = squares([8, 16, 20, 24, 28]);
    const conditioning = new AdaptiveNoiseConditioning({}, { extractor: patchExtractor, direction });
    const ratios = Array.from(await conditioning.foregroundRatios({ indices: Int32Array.from([0, 1, 2, 3, 4]), images: batch }));
    expect(ratios).toEqual([4 / 49, 16 / 49, 25 / 49, 36 / 49, 1]);
    const params = await conditioning.decide({ indices: Int32Array.from([0, 1, 2, 3, 4]), images: batch }, new Rng(0));
    expect(params.map((p) => p.noiseLevel)).toEqual([0, 100, 200, 300, 400]);
    batch.dispose();
  });
});

describe('fixed and random strategies and seeds', () => {
  it('fixed gives one level; random draws from the given levels per index', async () => {
    const fixed = new AdaptiveNoiseConditioning({ strategy: 'fixed', level: 250 });
    expect((await fixed.decide({ indices: Int32Array.from([0, 1, 2]) }, new Rng(0))).map((p) => p.noiseLevel)).toEqual([250, 250, 250]);
    const random = new AdaptiveNoiseConditioning({ strategy: 'random', levels: [0, 500] });
    const levels = (await random.decide({ indices: Int32Array.from({ length: 200 }, (_, i) => i) }, new Rng(0))).map((p) => p.noiseLevel);
    expect(new Set(levels)).toEqual(new Set([0, 500]));
    const zeros = levels.filter((l) => l === 0).length;
    expect(zeros).toBeGreaterThan(70);
    expect(zeros).toBeLessThan(130);
  });

  it('makes each image seed a function of the run seed and the index, not of the batch', async () => {
    const c = new AdaptiveNoiseConditioning({ strategy: 'random' });
    const all = await c.decide({ indices: Int32Array.from([4, 5, 6]) }, new Rng(9));
    const one = await c.decide({ indices: Int32Array.from([6]) }, new Rng(9));
    expect(one[0]).toEqual(all[2]);
    const other = await c.decide({ indices: Int32Array.from([6]) }, new Rng(10));
    expect(other[0]?.seed).not.toBe(one[0]?.seed);
  });

  it('explains what the adaptive strategy is missing', async () => {
    expect(() => new AdaptiveNoiseConditioning({ strategy: 'adaptive' })).toThrow(/needs a frozen encoder and a foreground direction/);
    const registry = new Registry().register([adaptiveNoisePlugin]);
    await expect(registry.create('conditioning', { name: 'genview-adaptive-noise', strategy: 'adaptive' }, { rng: new Rng(0), path: 'generate.conditioning' } as never)).rejects.toThrow(
      /generate\.conditioning\.encoder.*genview fit-foreground/,
    );
  });

  it('resolves the encoder through the host services', async () => {
    const registry = new Registry().register([adaptiveNoisePlugin]);
    const conditioning = await registry.create(
      'conditioning',
      { name: 'genview-adaptive-noise', encoder: 'grid', direction: { vector: Array.from(basis(0)), threshold: 1 } },
      { rng: new Rng(0), path: 'conditioning', services: { featureExtractor: () => gridExtractor } } as never,
    );
    const rng = new Rng(3);
    const batch = images([tokenMap(H, W, 24, basis(0, 2), basis(1), 0, rng)], H, W);
    const [p] = await conditioning.decide({ indices: Int32Array.from([0]), images: batch }, new Rng(0));
    expect(p?.noiseLevel).toBe(400);
    expect(D).toBe(8);
    batch.dispose();
  });
});
