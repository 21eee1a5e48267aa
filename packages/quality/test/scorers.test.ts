import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EventBus,
  type FeatureExtractor,
  GenviewError,
  Registry,
  Rng,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  type Tensor4D,
  l2Normalize,
  tf,
} from '@genview/core';
import { ntXent } from '@genview/losses';
import { describe, expect, it } from 'vitest';
import {
  type ForegroundDirection,
  createAlignmentDiversityScorer,
  createGenviewFgBgScorer,
  imageImageWeights,
  imageTextWeights,
  plugins,
  saveForegroundDirection,
} from '../src/index';
import { labelPairMask, pooledViewFeatures } from '../src/scorers/alignment-diversity';
import { D, add, basis, cosine, gridExtractor, images, tokenMap } from './synthetic';

const H = 6;
const W = 6;
const FG_COUNT = 12;
// Foreground and background are told apart by e0 (the direction); the other axes make distinct subjects and scenes.
const FG_BASE = basis(0, 3);
const BG_BASE = basis(0, -3);
const FG1 = add(FG_BASE, basis(1));
const FG2 = add(FG_BASE, basis(2));
const BG1 = add(BG_BASE, basis(3));
const BG2 = add(BG_BASE, basis(4));
const DIRECTION: ForegroundDirection = { vector: basis(0), threshold: 0 };

const map = (fg: Float32Array, bg: Float32Array, noise = 0, rng = new Rng(0)) => tokenMap(H, W, FG_COUNT, fg, bg, noise, rng);

/** A varied batch of N pairs (random subjects and scenes), for the properties that must hold for any input. */
function randomPairs(n: number, seed: number): [Tensor4D, Tensor4D] {
  const rng = new Rng(seed);
  const vec = (base: Float32Array) => add(base, Float32Array.from(rng.normalArray(D, 0, 0.7)));
  const a: Float32Array[] = [];
  const b: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const fg = vec(FG_BASE);
    a.push(map(fg, vec(BG_BASE), 0.1, rng));
    b.push(map(rng.bernoulli(0.5) ? fg : vec(FG_BASE), vec(BG_BASE), 0.1, rng));
  }
  return [images(a, H, W), images(b, H, W)];
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

describe('genview-fg-bg', async () => {
  it('a pair with the same foreground and different backgrounds outscores a pair with different foregrounds', async () => {
    const scorer = createGenviewFgBgScorer({ extractor: gridExtractor, direction: DIRECTION });
    // Pair 0: same subject, new scene (a good generated view). Pair 1: new subject, same scene (a bad one).
    const v1 = images([map(FG1, BG1), map(FG1, BG1)], H, W);
    const v2 = images([map(FG1, BG2), map(FG2, BG1)], H, W);
    const sims = await scorer.similarities({ views: [v1, v2] });
    const fg = sims.foreground.dataSync();
    const bg = sims.background.dataSync();
    // Without noise the soft masks isolate the two vectors exactly, so the similarities are known.
    expect(fg[0]).toBeCloseTo(1, 5);
    expect(bg[0]).toBeCloseTo(cosine(BG1, BG2), 5);
    expect(fg[1]).toBeCloseTo(cosine(FG1, FG2), 5);
    expect(bg[1]).toBeCloseTo(1, 5);

    const scores = (await scorer.pairScores({ views: [v1, v2] })).dataSync();
    expect(scores[0]).toBeCloseTo(Math.exp(1 - cosine(BG1, BG2)), 5);
    expect(scores[0]).toBeGreaterThan(scores[1]);
    const weights = await scorer.pairWeights({ views: [v1, v2] });
    const w = weights.dataSync();
    expect(w[0]).toBeGreaterThan(1);
    expect(w[0] + w[1]).toBeCloseTo(2, 6);
    expect(w[0]).toBeCloseTo((2 * scores[0]) / (scores[0] + scores[1]), 5);
    tf.dispose([v1, v2, sims.foreground, sims.background, weights]);
    scorer.dispose();
  });

  it('weights have mean 1, follow N·score/Σscore, and γ sharpens them', async () => {
    const [a, b] = randomPairs(16, 3);
    const soft = createGenviewFgBgScorer({ extractor: gridExtractor, direction: DIRECTION, gamma: 1 });
    const sharp = createGenviewFgBgScorer({ extractor: gridExtractor, direction: DIRECTION, gamma: 4 });
    const w1 = await soft.pairWeights({ views: [a, b] });
    const w4 = await sharp.pairWeights({ views: [a, b] });
    const scores = await soft.pairScores({ views: [a, b] });
    const s = Array.from(scores.dataSync());
    const total = s.reduce((x, y) => x + y, 0);
    const values = Array.from(w1.dataSync());
    expect(values.reduce((x, y) => x + y, 0) / 16).toBeCloseTo(1, 6);
    for (const [i, x] of values.entries()) expect(x).toBeCloseTo((16 * s[i]) / total, 5);
    const spread = (v: number[]) => Math.max(...v) - Math.min(...v);
    expect(spread(values)).toBeGreaterThan(0.01);
    expect(spread(Array.from(w4.dataSync()))).toBeGreaterThan(spread(values));
    tf.dispose([a, b, w1, w4, scores]);
    soft.dispose();
    sharp.dispose();
  });

  it('answers detached weights that depend on the views', async () => {
    const [a, b] = randomPairs(6, 4);
    const scorer = createGenviewFgBgScorer({ extractor: gridExtractor, direction: DIRECTION });
    // The weights are computed (and awaited) before a loss's gradient tape opens, so they are constants there.
    const z = tf.randomNormal([6, 5], 0, 1, 'float32', 3) as Tensor2D;
    const w0 = await scorer.pairWeights({ views: [a, b] });
    const grads = tf.grads((x: tf.Tensor) => ntXent([x as Tensor2D, z], { weights: w0 }))([z]);
    expect(grads[0]?.shape).toEqual([6, 5]);
    const moved = tf.add(a, tf.mul(tf.randomNormal(a.shape, 0, 0.5, 'float32', 5), 1)) as Tensor4D;
    const w1 = await scorer.pairWeights({ views: [moved, b] });
    expect(tf.max(tf.abs(tf.sub(w0, w1))).dataSync()[0]).toBeGreaterThan(1e-3);
    tf.dispose([a, b, z, moved, w0, w1, ...grads]);
    scorer.dispose();
  });

  it('equal-quality pairs get weights of exactly 1, so the weighted NT-Xent equals the unweighted one', async () => {
    const n = 8;
    const v1 = images(Array.from({ length: n }, () => map(FG1, BG1, 0.1, new Rng(1))), H, W);
    const v2 = images(Array.from({ length: n }, () => map(FG1, BG2, 0.1, new Rng(2))), H, W);
    const scorer = createGenviewFgBgScorer({ extractor: gridExtractor, direction: DIRECTION });
    const weights = await scorer.pairWeights({ views: [v1, v2] });
    expect(Array.from(weights.dataSync())).toEqual(new Array(n).fill(1));
    const z1 = tf.randomNormal([n, 5], 0, 1, 'float32', 6) as Tensor2D;
    const z2 = tf.randomNormal([n, 5], 0, 1, 'float32', 7) as Tensor2D;
    const weighted = ntXent([z1, z2], { weights });
    const plain = ntXent([z1, z2]);
    expect(weighted.dataSync()[0]).toBe(plain.dataSync()[0]);
    tf.dispose([v1, v2, weights, z1, z2, weighted, plain]);
    scorer.dispose();
  });

  it('holds no tensors across steps beyond its direction', async () => {
    const [a, b] = randomPairs(8, 8);
    const before = tf.memory().numTensors;
    const scorer = createGenviewFgBgScorer({ extractor: gridExtractor, direction: DIRECTION });
    const afterCreate = tf.memory().numTensors;
    expect(afterCreate).toBe(before + 1);
    for (let step = 0; step < 4; step++) {
      const w = await scorer.pairWeights({ views: [a, b] });
      const s = await scorer.pairScores({ views: [a, b] });
      tf.dispose([w, s]);
      expect(tf.memory().numTensors).toBe(afterCreate);
    }
    scorer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });

  it('says clearly what is wrong: no patch tokens, a direction of another size, bad view shapes', async () => {
    const noTokens: FeatureExtractor = { featureDim: D, embed: gridExtractor.embed };
    await expectGenviewError(() => createGenviewFgBgScorer({ extractor: noTokens, direction: DIRECTION }), 'BAD_INPUT', /patchTokens/);
    await expectGenviewError(() => createGenviewFgBgScorer({ extractor: gridExtractor, direction: DIRECTION, gamma: -1 }), 'BAD_INPUT', /gamma/);

    const [a, b] = randomPairs(4, 9);
    const before = tf.memory().numTensors;
    const short = createGenviewFgBgScorer({ extractor: gridExtractor, direction: { vector: basis(0).subarray(0, 5), threshold: 0 } });
    await expectGenviewError(() => short.pairWeights({ views: [a, b] }), 'BAD_SHAPE', /direction has 5 dims.*tokens have 8/);
    short.dispose();

    const scorer = createGenviewFgBgScorer({ extractor: gridExtractor, direction: DIRECTION });
    const fewer = tf.slice(b, [0, 0, 0, 0], [3, -1, -1, -1]) as Tensor4D;
    await expectGenviewError(() => scorer.pairWeights({ views: [a, fewer] }), 'BAD_SHAPE', /views\[1\]/);
    const rank3 = tf.zeros([4, H, W]) as unknown as Tensor4D;
    await expectGenviewError(() => scorer.pairWeights({ views: [a, rank3] }), 'BAD_SHAPE', /rank 4/);
    await expectGenviewError(() => scorer.pairWeights({ views: [a] as unknown as [Tensor4D, Tensor4D] }), 'BAD_INPUT', /two views/);
    const badEncoder: FeatureExtractor = { ...gridExtractor, patchTokens: (x) => tf.reshape(x, [-1, D]) as unknown as Tensor3D };
    const bad = createGenviewFgBgScorer({ extractor: badEncoder, direction: DIRECTION });
    await expectGenviewError(() => bad.pairWeights({ views: [a, b] }), 'BAD_SHAPE', /patchTokens returned/);
    bad.dispose();
    scorer.dispose();
    tf.dispose([fewer, rank3]);
    // Failed calls leak nothing.
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });

  it('is created by name through the registry, taking its encoder from the host', async () => {
    const registry = new Registry().register(plugins);
    const dir = await mkdtemp(join(tmpdir(), 'genview-quality-'));
    try {
      const path = join(dir, 'fg.safetensors');
      await saveForegroundDirection(path, DIRECTION);
      const asked: string[] = [];
      const services = {
        featureExtractor: (name: string) => {
          asked.push(name);
          return gridExtractor;
        },
      };
      const context = { rng: new Rng(0), events: new EventBus(), services, path: 'quality' };
      const scorer = await registry.create('quality', { name: 'genview-fg-bg', direction: path, encoder: 'clip-frozen' }, context);
      expect(asked).toEqual(['clip-frozen']);
      const [a, b] = randomPairs(4, 10);
      const direct = createGenviewFgBgScorer({ extractor: gridExtractor, direction: DIRECTION });
      const w = await scorer.pairWeights({ views: [a, b] });
      const expected = await direct.pairWeights({ views: [a, b] });
      expect(Array.from(w.dataSync())).toEqual(Array.from(expected.dataSync()));
      tf.dispose([a, b, w, expected]);
      direct.dispose();

      const inline = { name: 'genview-fg-bg', direction: { vector: Array.from(DIRECTION.vector) }, encoder: 'x' };
      await expect(registry.create('quality', inline, { rng: new Rng(0), events: new EventBus() })).rejects.toThrow(/quality\.encoder.*services\.featureExtractor/s);
      await expect(registry.create('quality', { ...inline, gamma: -1 }, context)).rejects.toThrow(/INVALID_CONFIG/);
      await expect(registry.create('quality', { name: 'genview-fg-bg', direction: path }, context)).rejects.toThrow(/encoder/);
      const noTokens = { featureExtractor: () => ({ featureDim: D, embed: gridExtractor.embed }) };
      await expect(registry.create('quality', inline, { ...context, services: noTokens })).rejects.toThrow(/patchTokens/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('alignment-diversity', () => {
  it('image-image weights: same-label pairs only, diagonal excluded, exp(γ(sim_fg − sim_bg)) over the mean nonzero score', () => {
    const rng = new Rng(12);
    const m = 5;
    const fgRows = Array.from({ length: m }, () => rng.normalArray(4));
    const bgRows = Array.from({ length: m }, () => rng.normalArray(4));
    const labels = [0, 0, 1, 1, 0];
    const fg = tf.tensor2d(fgRows.map((r) => Array.from(r)));
    const bg = tf.tensor2d(bgRows.map((r) => Array.from(r)));
    const { scores, weights } = imageImageWeights({ foreground: fg, background: bg, labels, gamma: 2 });

    const expected: number[][] = [];
    const nonzero: number[] = [];
    for (let i = 0; i < m; i++) {
      expected.push([]);
      for (let j = 0; j < m; j++) {
        const allowed = labels[i] === labels[j] && i !== j;
        const s = allowed ? Math.exp(2 * (cosine(fgRows[i], fgRows[j]) - cosine(bgRows[i], bgRows[j]))) : 0;
        expected[i].push(s);
        if (allowed) nonzero.push(s);
      }
    }
    const mean = nonzero.reduce((a, b) => a + b, 0) / nonzero.length;
    const gotScores = scores.arraySync();
    const gotWeights = weights.arraySync();
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        expect(gotScores[i][j]).toBeCloseTo(expected[i][j], 4);
        expect(gotWeights[i][j]).toBeCloseTo(expected[i][j] / mean, 4);
      }
    }
    tf.dispose([fg, bg, scores, weights]);
  });

  it('image-text weights: exp(γ2(cos(view, text) − cos(view bg, real bg))) over label-matching pairs', async () => {
    const rng = new Rng(13);
    const rows = (k: number, d: number) => Array.from({ length: k }, () => Array.from(rng.normalArray(d)));
    const [views, texts, viewBg, realBg] = [rows(4, 3), rows(2, 3), rows(4, 5), rows(2, 5)];
    const viewLabels = [0, 1, 0, 1];
    const textLabels = [0, 1];
    const t = [tf.tensor2d(views), tf.tensor2d(texts), tf.tensor2d(viewBg), tf.tensor2d(realBg)];
    const { scores, weights } = imageTextWeights({
      viewEmbeddings: t[0],
      textEmbeddings: t[1],
      viewBackgrounds: t[2],
      realBackgrounds: t[3],
      viewLabels,
      textLabels,
    });
    const raw = views.map((v, i) => texts.map((x, k) => (viewLabels[i] === textLabels[k] ? Math.exp(2 * (cosine(v, x) - cosine(viewBg[i], realBg[k]))) : 0)));
    const flat = raw.flat().filter((x) => x !== 0);
    const mean = flat.reduce((a, b) => a + b, 0) / flat.length;
    const got = weights.arraySync();
    const gotScores = scores.arraySync();
    for (const [i, r] of raw.entries()) {
      for (const [k, x] of r.entries()) {
        expect(gotScores[i][k]).toBeCloseTo(x, 4);
        expect(got[i][k]).toBeCloseTo(x / mean, 4);
      }
    }
    tf.dispose([...t, scores, weights]);
    await expectGenviewError(
      () => imageTextWeights({ viewEmbeddings: t[0], textEmbeddings: t[1], viewBackgrounds: t[2], realBackgrounds: t[3], viewLabels: [0, 1], textLabels }),
      'BAD_SHAPE',
      /viewLabels/,
    );
  });

  it('equal scores give weights of exactly 1, and no allowed pair gives zeros rather than NaN', () => {
    const fg = tf.ones([4, 3]) as Tensor2D;
    const bg = tf.ones([4, 3]) as Tensor2D;
    const equal = imageImageWeights({ foreground: fg, background: bg, labels: [0, 0, 1, 1] });
    const mask = labelPairMask([0, 0, 1, 1], [0, 0, 1, 1], true);
    expect(equal.weights.arraySync()).toEqual(mask.arraySync());
    const none = imageImageWeights({ foreground: fg, background: bg, labels: [0, 1, 2, 3] });
    expect(none.weights.dataSync().every((x) => x === 0)).toBe(true);
    tf.dispose([fg, bg, mask, equal.scores, equal.weights, none.scores, none.weights]);
  });

  it('its two-view pairWeights equal genview-fg-bg at the same γ; the matrix covers any number of views', async () => {
    const [a, b] = randomPairs(6, 14);
    const ad = createAlignmentDiversityScorer({ extractor: gridExtractor, direction: DIRECTION });
    const fgbg = createGenviewFgBgScorer({ extractor: gridExtractor, direction: DIRECTION, gamma: 2 });
    const before = tf.memory().numTensors;
    const w = await ad.pairWeights({ views: [a, b] });
    const ref = await fgbg.pairWeights({ views: [a, b] });
    const wv = w.dataSync();
    for (const [i, x] of Array.from(ref.dataSync()).entries()) expect(wv[i]).toBeCloseTo(x, 5);
    expect(Array.from(wv).reduce((x, y) => x + y, 0) / 6).toBeCloseTo(1, 5);
    tf.dispose([w, ref]);
    expect(tf.memory().numTensors).toBe(before);

    // Three views per source (e.g. real, image-conditioned, text-conditioned): a [3N, 3N] matrix.
    const c = tf.add(a, 0.1) as Tensor4D;
    const labels = Int32Array.from({ length: 18 }, (_, i) => i % 6);
    const matrix = ad.viewWeights([a, b, c], labels);
    expect(matrix.weights.shape).toEqual([18, 18]);
    const mw = matrix.weights.arraySync();
    let sum = 0;
    let count = 0;
    for (let i = 0; i < 18; i++) {
      for (let j = 0; j < 18; j++) {
        if (labels[i] === labels[j] && i !== j) {
          sum += mw[i][j];
          count++;
        } else expect(mw[i][j]).toBe(0);
      }
    }
    expect(count).toBe(36);
    expect(sum / count).toBeCloseTo(1, 5);
    const pooled = pooledViewFeatures(gridExtractor, DIRECTION, [a, b, c]);
    expect(pooled.foreground.shape).toEqual([18, D]);
    tf.dispose([a, b, c, matrix.scores, matrix.weights, pooled.foreground, pooled.background]);
    ad.dispose();
    fgbg.dispose();
  });

  it('carries no gradient and is registered with GenView++ defaults', async () => {
    const [a, b] = randomPairs(4, 15);
    const ad = createAlignmentDiversityScorer({ extractor: gridExtractor, direction: DIRECTION });
    expect([ad.gamma1, ad.gamma2]).toEqual([2, 2]);
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(ad.pairWeights({ views: [x as Tensor4D, b] }) as Tensor1D, tf.tensor1d([1, 2, 3, 4]))))(a);
    expect(g.dataSync().every((x) => x === 0)).toBe(true);
    tf.dispose([a, b, g]);
    ad.dispose();
    const registry = new Registry().register(plugins);
    const plugin = registry.resolve('quality', 'alignment-diversity');
    const config = registry.validate(plugin, { direction: 'fg.safetensors', encoder: 'clip' }, 'quality') as { gamma1: number; gamma2: number };
    expect([config.gamma1, config.gamma2]).toEqual([2, 2]);
    const scorer = await registry.create('quality', { name: 'alignment-diversity', direction: { vector: [1, 0, 0, 0, 0, 0, 0, 0] }, encoder: 'clip' }, {
      rng: new Rng(0),
      events: new EventBus(),
      services: { featureExtractor: () => gridExtractor },
    });
    expect(scorer.name).toBe('alignment-diversity');
  });

  /** A frozen image-text model stand-in: images embed as their mean token, texts as a fixed vector per caption. */
  const textVectors: Record<string, Float32Array> = { 'a red circle': basis(0), 'a blue square': basis(1), 'a green star': add(basis(0), basis(2)) };
  const fakeClip = {
    jointDim: D,
    calls: 0,
    async embedImages(images: Tensor4D) {
      this.calls++;
      return tf.tidy(() => l2Normalize(gridExtractor.embed(images)) as Tensor2D);
    },
    async embedTexts(texts: readonly string[]) {
      return tf.tidy(() => l2Normalize(tf.stack(texts.map((t) => tf.tensor1d(textVectors[t] ?? basis(3))))) as Tensor2D);
    },
  };

  it('image-text pairs: view 0 against its caption through the frozen model, minus view 0 and view 1 background similarity', async () => {
    const [a, b] = randomPairs(3, 21);
    const captions = ['a red circle', 'a blue square', 'a green star'];
    const ad = createAlignmentDiversityScorer({ extractor: gridExtractor, direction: DIRECTION, pairs: 'image-text', alignment: fakeClip });
    expect(ad.pairs).toBe('image-text');
    const before = tf.memory().numTensors;
    const w = await ad.pairWeights({ views: [a, b], captions, sources: b });
    expect(tf.memory().numTensors).toBe(before + 1);
    // The diagonal of the matrix form with one label per pair, normalised over the three pairs.
    const pooled = pooledViewFeatures(gridExtractor, DIRECTION, [a, b]);
    const viewEmbeddings = await fakeClip.embedImages(a);
    const textEmbeddings = await fakeClip.embedTexts(captions);
    const viewBackgrounds = tf.slice(pooled.background, [0, 0], [3, -1]) as Tensor2D;
    const realBackgrounds = tf.slice(pooled.background, [3, 0], [3, -1]) as Tensor2D;
    const matrix = imageTextWeights({ viewEmbeddings, textEmbeddings, viewBackgrounds, realBackgrounds, viewLabels: [0, 1, 2], textLabels: [0, 1, 2] });
    const expected = matrix.weights.arraySync().map((row, i) => row[i] as number);
    const got = Array.from(w.dataSync());
    for (const [i, x] of expected.entries()) expect(got[i]).toBeCloseTo(x, 5);
    expect(got.reduce((x, y) => x + y, 0) / 3).toBeCloseTo(1, 5);
    // A caption that matches its view better gets more weight, everything else equal.
    const swapped = await ad.pairWeights({ views: [a, b], captions: ['a blue square', 'a blue square', 'a green star'], sources: b });
    expect(swapped.dataSync()[0]).not.toBeCloseTo(got[0] as number, 3);
    tf.dispose([a, b, w, swapped, pooled.foreground, pooled.background, viewEmbeddings, textEmbeddings, viewBackgrounds, realBackgrounds, matrix.scores, matrix.weights]);

    const [c, d] = randomPairs(2, 22);
    await expect(ad.pairWeights({ views: [c, d], sources: d })).rejects.toThrow(/one caption per pair \(2\), got none/);
    await expect(ad.pairWeights({ views: [c, d], captions: ['x'], sources: d })).rejects.toThrow(/captions/);
    await expect(ad.pairWeights({ views: [c, d], captions: ['x', 'y'] })).rejects.toThrow(/need the 2 real images.*got none.*sources/s);
    // The real images may have another size than the views (a crop to a smaller size, say).
    const big = tf.tidy(() => tf.concat([tf.concat([d, d], 1), tf.concat([d, d], 1)], 2)) as Tensor4D;
    const live = tf.memory().numTensors;
    const mixed = await ad.pairWeights({ views: [c, d], captions: ['x', 'y'], sources: big });
    expect(mixed.shape).toEqual([2]);
    mixed.dispose();
    expect(tf.memory().numTensors).toBe(live);
    big.dispose();
    tf.dispose([c, d]);
    ad.dispose();
    await expectGenviewError(() => createAlignmentDiversityScorer({ extractor: gridExtractor, direction: DIRECTION, pairs: 'image-text' }), 'BAD_INPUT', /frozen image-text model/);
  });

  it('the plugin resolves the alignment model through the host, and refuses image-text pairs without one', async () => {
    const registry = new Registry().register(plugins);
    const asked: string[] = [];
    const services = {
      featureExtractor: () => gridExtractor,
      visionLanguageModel: (name: string) => {
        asked.push(name);
        return fakeClip;
      },
    };
    const base = { name: 'alignment-diversity', direction: { vector: Array.from(DIRECTION.vector) }, encoder: 'x' };
    const context = { rng: new Rng(0), events: new EventBus(), services, path: 'quality' };
    const scorer = await registry.create('quality', { ...base, pairs: 'image-text', alignment: 'onnx:tiny-clip' }, context);
    expect(asked).toEqual(['onnx:tiny-clip']);
    const [a, b] = randomPairs(2, 23);
    const calls = fakeClip.calls;
    const w = await scorer.pairWeights({ views: [a, b], captions: ['a red circle', 'a green star'], sources: a });
    expect(fakeClip.calls).toBe(calls + 1);
    expect(w.shape).toEqual([2]);
    tf.dispose([a, b, w]);
    await expect(registry.create('quality', { ...base, pairs: 'image-text' }, context)).rejects.toThrow(/quality\.alignment.*pairs: image-text needs alignment/s);
    await expect(registry.create('quality', { ...base, alignment: 'onnx:tiny-clip' }, context)).rejects.toThrow(/quality\.alignment.*image-text pairs only/s);
    const noHost = { ...context, services: { featureExtractor: () => gridExtractor } };
    await expect(registry.create('quality', { ...base, pairs: 'image-text', alignment: 'y' }, noHost)).rejects.toThrow(/services\.visionLanguageModel/);
  });
});

