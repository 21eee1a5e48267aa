import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Batch, type Dataset, EventBus, GenviewError, type Tensor3D, tf } from '@genview/core';
import { describe, expect, it } from 'vitest';
import {
  GENVIEW_NOISE_BINS,
  adaptiveNoiseLevels,
  fitForegroundDirection,
  fitForegroundDirectionOnDataset,
  foregroundRatios,
  loadForegroundDirection,
  noiseLevelBinsSchema,
  noiseLevelForRatio,
  poolForegroundBackground,
  saveForegroundDirection,
  softForegroundMasks,
} from '../src/index';
import { decodeForegroundDirection, encodeForegroundDirection } from '../src/foreground/direction-file';
import { projectTokens } from '../src/foreground/masks';
import { noiseLevelsForRatios } from '../src/foreground/noise-level';
import { D, Rng, add, basis, centreOrder, cosine, gridExtractor, images, tokenMap, tokensOf } from './synthetic';

const H = 10;
const W = 10;
const T = H * W;
// Foreground and background differ along e0 and e1; e2..e4 vary within each class as nuisance.
const FG = add(basis(0, 2), basis(1, 1));
const BG = add(basis(0, -1), basis(1, -1.5), basis(2, 0.5));
const TRUE_AXIS = Float32Array.from(FG, (x, i) => x - BG[i]);

/** 20 maps whose foreground covers 40 % of all tokens (fractions 0.2..0.6), with noise. */
function fitMaps(seed = 1): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: 20 }, (_, i) => tokenMap(H, W, [20, 30, 40, 50, 60][i % 5], FG, BG, 0.05, rng));
}

async function expectGenviewError(run: () => unknown, code: string, mention?: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(GenviewError);
  expect((caught as GenviewError).code).toBe(code);
  if (mention) expect((caught as GenviewError).message).toMatch(mention);
}

describe('fitForegroundDirection', () => {
  it('finds the axis that separates foreground from background, oriented towards the centre, at a 40% threshold', async () => {
    const maps = fitMaps();
    const tokens = tokensOf(maps, H, W);
    const before = tf.memory().numTensors;
    const fitted = await fitForegroundDirection(tokens, { foregroundFraction: 0.4 });
    expect(tf.memory().numTensors).toBe(before);

    expect(fitted.vector.length).toBe(D);
    expect(Math.hypot(...fitted.vector)).toBeCloseTo(1, 5);
    // Same line as fg − bg, and pointing from background to foreground (the centre prior picked the sign).
    expect(cosine(fitted.vector, TRUE_AXIS)).toBeGreaterThan(0.99);
    expect(fitted.orientation).toBe('centre-prior');
    expect(fitted.foregroundFraction).toBeCloseTo(0.4, 10);
    expect(fitted.explainedVariance).toBeGreaterThan(0.9);

    // Every foreground token projects above the threshold and every background token below it.
    const p = projectTokens(tokens, fitted);
    const values = p.dataSync();
    const counts = [20, 30, 40, 50, 60];
    const order = centreOrder(H, W);
    maps.forEach((_, n) => {
      const fgSet = new Set(order.slice(0, counts[n % 5]));
      for (let t = 0; t < T; t++) {
        expect(values[n * T + t] > fitted.threshold).toBe(fgSet.has(t));
      }
    });
    // The mean is the fit sample's mean token.
    const mean = tf.mean(tf.reshape(tokens, [-1, D]), 0).dataSync();
    for (let i = 0; i < D; i++) expect(fitted.mean?.[i]).toBeCloseTo(mean[i], 4);
    tf.dispose([p, tokens]);
  });

  it('the centre prior decides the sign: a subject on the border flips the direction towards the centre', async () => {
    const rng = new Rng(11);
    // The "foreground" vector now sits on the outer ring (the last tokens in centre order).
    const maps = Array.from({ length: 10 }, () => tokenMap(H, W, 60, BG, FG, 0.05, rng));
    const tokens = tokensOf(maps, H, W);
    const fitted = await fitForegroundDirection(tokens);
    expect(cosine(fitted.vector, TRUE_AXIS)).toBeLessThan(-0.99);
    tokens.dispose();
  });

  it("'flip' and 'as-computed' override the centre prior; streamed batches give the same fit and are disposed", async () => {
    const maps = fitMaps(2);
    const whole = tokensOf(maps, H, W);
    const fitted = await fitForegroundDirection(whole);
    const flipped = await fitForegroundDirection(whole, { orientation: 'flip' });
    const asComputed = await fitForegroundDirection(whole, { orientation: 'as-computed' });
    for (let i = 0; i < D; i++) {
      expect(Math.abs(asComputed.vector[i])).toBeCloseTo(Math.abs(fitted.vector[i]), 6);
      expect(flipped.vector[i]).toBeCloseTo(-asComputed.vector[i], 6);
    }
    whole.dispose();

    const before = tf.memory().numTensors;
    const stream = await fitForegroundDirection(function* () {
      for (let i = 0; i < maps.length; i += 3) yield tokensOf(maps.slice(i, i + 3), H, W);
    });
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < D; i++) expect(stream.vector[i]).toBeCloseTo(fitted.vector[i], 5);
    expect(stream.threshold).toBeCloseTo(fitted.threshold, 4);
  });

  it('refuses one-shot streams, empty input, non-square grids without a layout, and flat tokens', async () => {
    const maps = fitMaps(3);
    const once = (function* () {
      yield tokensOf(maps, H, W);
    })();
    await expectGenviewError(() => fitForegroundDirection(() => once), 'BAD_INPUT', /factory/);
    await expectGenviewError(() => fitForegroundDirection([]), 'EMPTY_DATASET');
    const rect = tf.randomNormal([2, 6, D], 0, 1, 'float32', 1) as Tensor3D;
    await expectGenviewError(() => fitForegroundDirection(rect), 'BAD_SHAPE', /grid/);
    const withGrid = await fitForegroundDirection(rect, { grid: [2, 3] });
    expect(withGrid.vector.length).toBe(D);
    const flat = tf.ones([2, 4, D]) as Tensor3D;
    await expectGenviewError(() => fitForegroundDirection(flat), 'BAD_INPUT', /no variance/);
    await expectGenviewError(() => fitForegroundDirection(flat, { foregroundFraction: 1 }), 'BAD_INPUT', /foregroundFraction/);
    const mixed = [tokensOf(maps.slice(0, 1), H, W), tf.zeros([1, T, D + 1]) as Tensor3D];
    await expectGenviewError(() => fitForegroundDirection(mixed), 'BAD_SHAPE', /earlier batches/);
    tf.dispose([rect, flat, ...mixed]);
  });

  it('runs over a Dataset with a FeatureExtractor in batches, reporting progress', async () => {
    const maps = fitMaps(4);
    const dataset: Dataset = {
      info: { name: 'synthetic', size: maps.length, imageShape: [H, W, D] },
      read: async (indices: ArrayLike<number>): Promise<Batch> => ({
        images: images(Array.from(indices, (i) => maps[i]), H, W),
        indices: Int32Array.from(indices),
      }),
    };
    const events = new EventBus();
    const progress: number[] = [];
    events.on('progress', (p) => progress.push(p.done));
    const before = tf.memory().numTensors;
    const fromDataset = await fitForegroundDirectionOnDataset(dataset, gridExtractor, { batchSize: 6, events });
    expect(tf.memory().numTensors).toBe(before);
    const whole = tokensOf(maps, H, W);
    const direct = await fitForegroundDirection(whole);
    whole.dispose();
    for (let i = 0; i < D; i++) expect(fromDataset.vector[i]).toBeCloseTo(direct.vector[i], 5);
    expect(progress.at(-1)).toBe(2 * maps.length);

    const noTokens = { featureDim: D, embed: gridExtractor.embed };
    await expectGenviewError(() => fitForegroundDirectionOnDataset(dataset, noTokens), 'BAD_INPUT', /patchTokens/);
  });

  it('saves and loads the direction as a safetensors file, atomically and exactly', async () => {
    const whole = tokensOf(fitMaps(5), H, W);
    const fitted = await fitForegroundDirection(whole);
    whole.dispose();
    const dir = await mkdtemp(join(tmpdir(), 'genview-quality-'));
    try {
      const path = join(dir, 'foreground.safetensors');
      await saveForegroundDirection(path, fitted);
      const loaded = await loadForegroundDirection(path);
      expect(Array.from(loaded.vector)).toEqual(Array.from(fitted.vector));
      expect(Array.from(loaded.mean ?? [])).toEqual(Array.from(fitted.mean ?? []));
      expect(loaded.threshold).toBe(fitted.threshold);
      expect(loaded.orientation).toBe(fitted.orientation);
      expect(loaded.foregroundFraction).toBe(fitted.foregroundFraction);
      await expectGenviewError(() => loadForegroundDirection(join(dir, 'missing.safetensors')), 'NOT_FOUND');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const bytes = encodeForegroundDirection({ vector: Float32Array.of(1, 0), threshold: 0.5 });
    expect(decodeForegroundDirection(bytes).threshold).toBe(0.5);
    expect(() => decodeForegroundDirection(bytes.subarray(0, 12))).toThrow(GenviewError);
    expect(() => encodeForegroundDirection({ vector: new Float32Array(3), threshold: 0 })).toThrow(/zero vector/);
  });
});

describe('masks and noise levels', () => {
  it('maps foreground fractions 0.1/0.3/0.5/0.7/0.9 to noise levels 0/100/200/300/400', async () => {
    const rng = new Rng(7);
    const fractions = [0.1, 0.3, 0.5, 0.7, 0.9];
    const maps = fractions.map((f) => tokenMap(H, W, Math.round(f * T), FG, BG, 0.05, rng));
    const tokens = tokensOf(maps, H, W);
    // These maps are half foreground overall, so the threshold is fitted at 50 %.
    const direction = await fitForegroundDirection(tokens, { foregroundFraction: 0.5 });
    const ratios = foregroundRatios(tokens, direction);
    expect(Array.from(ratios)).toEqual(fractions);
    expect(Array.from(adaptiveNoiseLevels(tokens, direction))).toEqual([0, 100, 200, 300, 400]);
    tokens.dispose();
  });

  it('bins ratios with inclusive upper edges, and accepts other bins', () => {
    expect([0, 0.2, 0.2000001, 0.4, 0.6, 0.8, 0.81, 1].map((r) => noiseLevelForRatio(r))).toEqual([0, 0, 100, 100, 200, 300, 400, 400]);
    const genviewPlusPlus = { edges: [0.3, 0.6], levels: [0, 100, 200] };
    expect(Array.from(noiseLevelsForRatios([0.1, 0.5, 0.9], genviewPlusPlus))).toEqual([0, 100, 200]);
    expect(() => noiseLevelForRatio(0.5, { edges: [0.5, 0.4], levels: [0, 1, 2] })).toThrow(/increase/);
    expect(() => noiseLevelForRatio(0.5, { edges: [0.5], levels: [0] })).toThrow(/one entry more/);
    expect(noiseLevelBinsSchema.parse(undefined)).toEqual({ edges: [...GENVIEW_NOISE_BINS.edges], levels: [...GENVIEW_NOISE_BINS.levels] });
    expect(noiseLevelBinsSchema.safeParse({ edges: [0.5], levels: [0, 1000] }).success).toBe(false);
  });

  it('soft masks are min-max normalised, complementary, and each sums to 1 (uniform for a flat map)', () => {
    const projections = tf.tensor2d([
      [0, 1, 2, 3],
      [5, 5, 5, 5],
      [-2, 4, 1, 0],
    ]);
    const { foreground, background } = softForegroundMasks(projections);
    const fg = foreground.arraySync();
    const bg = background.arraySync();
    for (let n = 0; n < 3; n++) {
      expect(fg[n].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      expect(bg[n].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    }
    // Row 0: m_fg = [0, 1/3, 2/3, 1] (sum 2), m_bg = [1, 2/3, 1/3, 0] (sum 2).
    for (const [i, x] of [0, 1 / 6, 2 / 6, 3 / 6].entries()) expect(fg[0][i]).toBeCloseTo(x, 6);
    for (const [i, x] of [3 / 6, 2 / 6, 1 / 6, 0].entries()) expect(bg[0][i]).toBeCloseTo(x, 6);
    for (let i = 0; i < 4; i++) expect(fg[1][i]).toBeCloseTo(0.25, 6);
    tf.dispose([projections, foreground, background]);
  });

  it('pools each view onto its foreground and background with one batched matmul', () => {
    const rng = new Rng(9);
    const tokens = tokensOf([tokenMap(H, W, 30, FG, BG, 0, rng)], H, W);
    const axis = Float32Array.from(TRUE_AXIS);
    const pooled = poolForegroundBackground(tokens, { vector: axis, threshold: 0 });
    // Without noise, m_fg is 1 on foreground and 0 on background, so the pools are the two vectors.
    const fg = pooled.foreground.dataSync();
    const bg = pooled.background.dataSync();
    for (let i = 0; i < D; i++) {
      expect(fg[i]).toBeCloseTo(FG[i], 5);
      expect(bg[i]).toBeCloseTo(BG[i], 5);
    }
    tf.dispose([tokens, pooled.foreground, pooled.background]);
    const wrong = tf.zeros([1, T, D]) as Tensor3D;
    expect(() => projectTokens(wrong, { vector: new Float32Array(D + 1).fill(1), threshold: 0 })).toThrow(/dims/);
    const rank2 = tf.zeros([T, D]);
    expect(() => projectTokens(rank2 as unknown as Tensor3D, { vector: axis, threshold: 0 })).toThrow(/rank 3/);
    tf.dispose([wrong, rank2]);
  });
});
