import { type Dataset, EventBus, type FeatureExtractor, Registry, Rng, type Tensor2D, type Tensor4D, tf } from '@genview/core';
import { describe, expect, it } from 'vitest';
import {
  alignmentUniformity,
  balancedSubset,
  extractFeatures,
  knnClassify,
  linearProbe,
  plugins,
  rawPixelFeatures,
  semiSupervisedProbe,
} from '../src/index';

/** Unit vector at an angle in degrees, scaled (kNN must not care about the scale). */
const at = (degrees: number, scale = 1): number[] => [scale * Math.cos((degrees * Math.PI) / 180), scale * Math.sin((degrees * Math.PI) / 180)];

/** Gaussian blobs around random class centres: separable when `spread` is small against the centres. */
function blobs(n: number, dim: number, classes: number, spread: number, rng: Rng, centres: Float32Array) {
  const features = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    labels[i] = c;
    for (let d = 0; d < dim; d++) features[i * dim + d] = centres[c * dim + d] + spread * rng.normal();
  }
  return { features, labels };
}

/**
 * An in-memory labelled dataset of 4x4 grey images: class 0 is bright on the left half, class 1 on the
 * right half, plus seeded noise. Raw pixels separate it; a constant encoder cannot.
 */
function halvesDataset(name: string, size: number, seed: number): Dataset & { reads: number } {
  const rng = new Rng(seed);
  const pixels = new Float32Array(size * 16);
  const labels = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    labels[i] = i % 2;
    for (let p = 0; p < 16; p++) {
      const left = p % 4 < 2;
      pixels[i * 16 + p] = Math.min(1, Math.max(0, (left === (labels[i] === 0) ? 0.7 : 0.3) + 0.1 * rng.normal()));
    }
  }
  const dataset = {
    reads: 0,
    info: { name, size, imageShape: [4, 4, 1] as [number, number, number], classNames: ['left', 'right'] },
    labels,
    async read(indices: ArrayLike<number>) {
      dataset.reads++;
      const idx = Int32Array.from(indices);
      const out = new Float32Array(idx.length * 16);
      idx.forEach((i, r) => {
        out.set(pixels.subarray(i * 16, (i + 1) * 16), r * 16);
      });
      return { images: tf.tensor4d(out, [idx.length, 4, 4, 1]), indices: idx, labels: Int32Array.from(idx, (i) => labels[i]) };
    },
  };
  return dataset;
}

describe('knnClassify', () => {
  // Train points on the circle: 0° and 180° are class 0, 60° and 90° class 1.
  const train = [at(0, 2), at(60, 0.5), at(90, 3), at(180, 1)];
  const trainLabels = Int32Array.from([0, 1, 1, 0]);
  // Test: 20° (class 0) and 100° (class 1).
  const test = [at(20, 5), at(100, 0.1)];
  const testLabels = Int32Array.from([0, 1]);
  const input = {
    trainFeatures: Float32Array.from(train.flat()),
    trainLabels,
    testFeatures: Float32Array.from(test.flat()),
    testLabels,
    numClasses: 2,
  };

  it('weights votes by exp(cos / T) as computed by hand', () => {
    // Test 20°: cosines 0°: cos20 = .9397 (c0), 60°: cos40 = .7660 (c1), 90°: cos70 = .3420 (c1).
    // k=1: c0 wins. k=3, T=0.5: c0 e^{1.8794} = 6.550 vs c1 e^{1.5321} + e^{0.6840} = 4.628 + 1.982 = 6.610 → c1 (wrong).
    // k=3, T=0.1: c0 e^{9.397} ≈ 12040 vs c1 e^{7.660} + e^{3.420} ≈ 2122 + 31 → c0 (right).
    // Test 100°: top 3 are 90° (c1, .9848), 60° (c1, .7660), 180° (c0, cos80 = .1736) → c1 at k = 1 and 3.
    const c0 = Math.exp(Math.cos((20 * Math.PI) / 180) / 0.5);
    const c1 = Math.exp(Math.cos((40 * Math.PI) / 180) / 0.5) + Math.exp(Math.cos((70 * Math.PI) / 180) / 0.5);
    expect(c1).toBeGreaterThan(c0); // the hand numbers above, checked
    expect(knnClassify({ ...input, k: [1, 3], temperature: 0.5 })).toEqual([
      { k: 1, top1: 1, top5: 1 },
      { k: 3, top1: 0.5, top5: 1 },
    ]);
    expect(knnClassify({ ...input, k: [3], temperature: 0.1 })).toEqual([{ k: 3, top1: 1, top5: 1 }]);
    // k beyond the train size is clamped: all 4 neighbours vote.
    expect(knnClassify({ ...input, k: [200], temperature: 0.1 })[0].k).toBe(4);
  });

  it('top-5 counts the true class among the five best-voted classes', () => {
    // 7 classes, one train point each at 0°, 10°, ..., 60°; the test point at 0° is labelled class 5
    // (ranked 6th by similarity), then class 4 (ranked 5th).
    const trainFeatures = Float32Array.from([0, 10, 20, 30, 40, 50, 60].flatMap((d) => at(d)));
    const base = { trainFeatures, trainLabels: Int32Array.from([0, 1, 2, 3, 4, 5, 6]), testFeatures: Float32Array.from(at(0)), numClasses: 7, k: [7] };
    expect(knnClassify({ ...base, testLabels: Int32Array.from([5]) })[0]).toEqual({ k: 7, top1: 0, top5: 0 });
    expect(knnClassify({ ...base, testLabels: Int32Array.from([4]) })[0]).toEqual({ k: 7, top1: 0, top5: 1 });
  });

  it('gives the same answer chunked and unchunked, without leaking tensors', () => {
    const rng = new Rng(3);
    const dim = 8;
    const centres = rng.normalArray(5 * dim);
    const tr = blobs(300, dim, 5, 1.5, rng, centres);
    const te = blobs(101, dim, 5, 1.5, rng, centres);
    const data = { trainFeatures: tr.features, trainLabels: tr.labels, testFeatures: te.features, testLabels: te.labels, numClasses: 5, k: [1, 20, 200] };
    const before = tf.memory().numTensors;
    const whole = knnClassify({ ...data, chunkSize: 1000 });
    const chunked = knnClassify({ ...data, chunkSize: 7 });
    expect(tf.memory().numTensors).toBe(before);
    expect(chunked).toEqual(whole);
    expect(whole[1].top1).toBeGreaterThan(0.5);
  });
});

describe('linearProbe', () => {
  it('reaches ≥ 98% on a linearly separable problem and picks L2 from the grid', () => {
    const rng = new Rng(11);
    const dim = 16;
    const centres = rng.normalArray(4 * dim, 0, 2);
    const tr = blobs(2000, dim, 4, 0.5, rng, centres);
    const te = blobs(500, dim, 4, 0.5, rng, centres);
    const grid = [0, 1e-5, 1e-4, 1e-3, 1e-2];
    const before = tf.memory().numTensors;
    const result = linearProbe(
      { trainFeatures: tr.features, trainLabels: tr.labels, testFeatures: te.features, testLabels: te.labels, numClasses: 4 },
      { l2Grid: grid, epochs: 10, batchSize: 256, seed: 1 },
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(result.top1).toBeGreaterThanOrEqual(0.98);
    expect(grid).toContain(result.l2);
    expect(result.validation.map((v) => v.l2)).toEqual(grid);
    expect(result.valSize).toBe(200);
    expect(result.trainSize).toBe(2000);
    // Same seed, same numbers.
    const again = linearProbe(
      { trainFeatures: tr.features, trainLabels: tr.labels, testFeatures: te.features, testLabels: te.labels, numClasses: 4 },
      { l2Grid: grid, epochs: 10, batchSize: 256, seed: 1 },
    );
    expect(again).toEqual(result);
  });

  it('can leave raw features unstandardised, so a near-constant input cannot swamp the decision', () => {
    // Two informative features and a third that is almost always 0 in train (a Fashion-MNIST border pixel)
    // but faintly on in test (as a generator may leave it): standardising divides it by its tiny spread.
    const rng = new Rng(9);
    const make = (n: number, border: () => number) => {
      const base = blobs(n, 2, 2, 0.3, rng, Float32Array.from([1, 0, -1, 0]));
      const features = new Float32Array(n * 3);
      for (let i = 0; i < n; i++) features.set([base.features[2 * i] as number, base.features[2 * i + 1] as number, border()], 3 * i);
      return { features, labels: base.labels };
    };
    const tr = make(1000, () => rng.normal() * 1e-4);
    const te = make(300, () => 0.2 + rng.normal() * 0.05);
    const probe = (standardise: boolean) =>
      linearProbe(
        { trainFeatures: tr.features, trainLabels: tr.labels, testFeatures: te.features, testLabels: te.labels, numClasses: 2 },
        { l2Grid: [1e-4], epochs: 10, batchSize: 128, seed: 3, standardise },
      ).top1;
    expect(probe(false)).toBeGreaterThanOrEqual(0.95);
    expect(probe(true)).toBeLessThan(0.9);
  });

  it('does better than chance only when the features carry the labels', () => {
    const rng = new Rng(5);
    const noise = rng.normalArray(400 * 4);
    const labels = Int32Array.from({ length: 400 }, (_, i) => i % 2);
    const result = linearProbe(
      { trainFeatures: noise.subarray(0, 300 * 4), trainLabels: labels.subarray(0, 300), testFeatures: noise.subarray(300 * 4), testLabels: labels.subarray(300), numClasses: 2 },
      { l2Grid: [1e-3], epochs: 5 },
    );
    expect(result.top1).toBeLessThan(0.7);
    expect(result.validation).toEqual([]);
  });
});

describe('semi-supervised', () => {
  it('draws class-balanced, seeded subsets', () => {
    const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 700 ? 0 : i < 900 ? 1 : 2));
    const subset = balancedSubset(labels, 0.03, 3, 7);
    const counts = [0, 0, 0];
    for (const i of subset) counts[labels[i]]++;
    expect(counts).toEqual([10, 10, 10]);
    expect(Array.from(subset)).toEqual([...subset].sort((a, b) => a - b));
    expect(balancedSubset(labels, 0.03, 3, 7)).toEqual(subset);
    expect(balancedSubset(labels, 0.03, 3, 8)).not.toEqual(subset);
    // A class smaller than its share gives all it has.
    expect(balancedSubset(labels, 0.9, 3, 1).length).toBe(300 + 200 + 100);
  });

  it('trains probes on 1% and 10% of train', () => {
    const rng = new Rng(2);
    const dim = 8;
    const centres = rng.normalArray(4 * dim, 0, 2);
    const tr = blobs(4000, dim, 4, 0.5, rng, centres);
    const te = blobs(400, dim, 4, 0.5, rng, centres);
    const results = semiSupervisedProbe(
      { trainFeatures: tr.features, trainLabels: tr.labels, testFeatures: te.features, testLabels: te.labels, numClasses: 4 },
      [0.01, 0.1],
      { epochs: 30, batchSize: 64, l2Grid: [0, 1e-3] },
    );
    expect(results.map((r) => [r.fraction, r.labelled])).toEqual([
      [0.01, 40],
      [0.1, 400],
    ]);
    for (const r of results) expect(r.top1).toBeGreaterThanOrEqual(0.95);
  });
});

describe('alignmentUniformity', () => {
  it('matches a hand computation', () => {
    // z1: 0°, 90°, 180°; z2: 0°, 90°, 90° (pair 3 is 90° apart: ‖a − b‖² = 2).
    // alignment (α=2) = (0 + 0 + 2) / 3. Uniformity of z1: squared distances 2 (0°-90°), 4 (0°-180°),
    // 2 (90°-180°) → log mean(e^{-4}, e^{-8}, e^{-4}); z2: 2, 2, 0 → log mean(e^{-4}, e^{-4}, 1).
    const z1 = tf.tensor2d([at(0), at(90), at(180)]) as Tensor2D;
    const z2 = tf.tensor2d([at(0, 3), at(90), at(90, 0.2)]) as Tensor2D;
    const before = tf.memory().numTensors;
    const got = alignmentUniformity(z1, z2);
    expect(tf.memory().numTensors).toBe(before);
    const u1 = Math.log((2 * Math.exp(-4) + Math.exp(-8)) / 3);
    const u2 = Math.log((2 * Math.exp(-4) + 1) / 3);
    expect(got.alignment).toBeCloseTo(2 / 3, 5);
    expect(got.uniformity).toBeCloseTo((u1 + u2) / 2, 5);
    // α = 1 uses plain distances: (0 + 0 + √2) / 3.
    expect(alignmentUniformity(z1, z2, { alpha: 1 }).alignment).toBeCloseTo(Math.SQRT2 / 3, 5);
    tf.dispose([z1, z2]);
  });
});

describe('features and evaluator plugins', () => {
  const train = halvesDataset('halves-train', 200, 1);
  const test = halvesDataset('halves-test', 60, 2);
  const registry = new Registry().register(plugins);
  const ctx = { rng: new Rng(0), events: new EventBus() };

  it('extractFeatures embeds in batches, keeps labels and disposes every batch', async () => {
    const encoder = rawPixelFeatures(train);
    expect(encoder.featureDim).toBe(16);
    const before = tf.memory().numTensors;
    const reads = train.reads;
    const set = await extractFeatures(encoder, train, { batchSize: 64, indices: [5, 3, 199, 0] });
    expect(tf.memory().numTensors).toBe(before);
    expect(set.dim).toBe(16);
    expect(Array.from(set.labels!)).toEqual([1, 1, 1, 0]);
    const direct = await train.read([199]);
    expect(Array.from(set.features.subarray(32, 48))).toEqual(Array.from(direct.images.dataSync()));
    direct.images.dispose();
    const all = await extractFeatures(encoder, train, { batchSize: 64 });
    expect(all.features.length).toBe(200 * 16);
    expect(train.reads - reads).toBe(1 + 1 + 4); // 4 indices in one batch, one direct read, 200 in 4 batches
  });

  it('knn, linear-probe, semi-supervised and align-uniform evaluate a frozen encoder and say what they measured', async () => {
    const data = { train, test };
    const raw = rawPixelFeatures(train);
    // A useless encoder: the same vector for every image.
    const constant: FeatureExtractor = { featureDim: 3, embed: (x: Tensor4D) => tf.ones([x.shape[0], 3]) as Tensor2D };
    const knn = await registry.create('evaluator', { name: 'knn', k: [5, 20], limitTest: 40 }, ctx);
    const before = tf.memory().numTensors;
    const result = await knn.evaluate(raw, data);
    expect(tf.memory().numTensors).toBe(before);
    expect(Object.keys(result.metrics).sort()).toEqual(['knn_top1@20', 'knn_top1@5', 'knn_top5@20', 'knn_top5@5']);
    expect(result.metrics['knn_top1@20']).toBeGreaterThanOrEqual(0.95);
    expect(result.description).toMatch(/k=5,20, T=0\.07/);
    expect(result.description).toMatch(/train halves-train n=200, test halves-test n=40 \(seeded subset\)/);
    const blind = await knn.evaluate(constant, data);
    expect(blind.metrics['knn_top1@20']).toBeLessThan(0.75);

    const probe = await registry.create('evaluator', { name: 'linear-probe', epochs: 20, batchSize: 32 }, ctx);
    const linear = await probe.evaluate(raw, data);
    expect(linear.metrics.linear_top1).toBeGreaterThanOrEqual(0.95);
    expect([0, 1e-5, 1e-4, 1e-3, 1e-2]).toContain(linear.metrics.linear_l2);
    expect(linear.description).toMatch(/linear probe on frozen encoder features \(D=16/);

    const semi = await registry.create('evaluator', { name: 'semi-supervised', fractions: [0.1], l2Grid: [1e-4] }, ctx);
    const semiResult = await semi.evaluate(raw, data);
    expect(semiResult.metrics['semi_labelled@10%']).toBe(20);
    expect(semiResult.metrics['semi_top1@10%']).toBeGreaterThanOrEqual(0.9);
    expect(semiResult.description).toMatch(/frozen-feature semi-supervised protocol \(the encoder is NOT fine-tuned\)/);

    const au = await registry.create('evaluator', { name: 'align-uniform', limit: 50 }, ctx);
    const auResult = await au.evaluate(raw, data);
    expect(auResult.metrics.align).toBeGreaterThan(0);
    expect(auResult.metrics.uniform).toBeLessThan(0);
    expect(auResult.description).toMatch(/first 50 images of halves-test, each paired with its horizontal flip/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects unlabelled data with a clear error', async () => {
    const unlabelled: Dataset = {
      info: { name: 'unlabelled', size: 4, imageShape: [4, 4, 1] },
      read: async (indices) => ({ images: tf.zeros([Array.from(indices).length, 4, 4, 1]) as Tensor4D, indices: Int32Array.from(indices) }),
    };
    const knn = await registry.create('evaluator', 'knn', ctx);
    await expect(knn.evaluate(rawPixelFeatures(train), { train: unlabelled, test })).rejects.toThrowError(/train dataset has no labels/);
  });
});

describe('cachedFeatures', () => {
  it('embeds each dataset once per wrapped encoder and serves subsets from it', async () => {
    const { cachedFeatures, extractFeatures } = await import('@genview/eval');
    const data = halvesDataset('cache', 6, 1);
    let calls = 0;
    const encoder = cachedFeatures({
      featureDim: 16,
      embed: (images) => {
        calls++;
        return tf.reshape(images, [images.shape[0], 16]) as tf.Tensor2D;
      },
    });
    const full = await extractFeatures(encoder, data, { batchSize: 6 });
    const subset = await extractFeatures(encoder, data, { indices: [4, 1] });
    expect(calls).toBe(1);
    expect(Array.from(subset.features)).toEqual([...full.features.subarray(64, 80), ...full.features.subarray(16, 32)]);
    expect(Array.from(subset.labels!)).toEqual([0, 1]);
  });
});
