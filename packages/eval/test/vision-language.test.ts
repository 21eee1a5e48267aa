import { type Dataset, EventBus, type FeatureExtractor, GenviewError, Registry, Rng, type Tensor2D, type Tensor4D, type VisionLanguageEncoder, tf } from '@genview/core';
import { describe, expect, it } from 'vitest';
import { cachedFeatures, plugins, retrievalRecall, zeroShotClassify } from '../src/index';
import { captionGroups } from '../src/evaluators/retrieval';
import { classEmbeddings } from '../src/evaluators/zero-shot';

/**
 * Synthetic vision-language geometry, D = 8: each "image" is a [1, 1, D] tensor holding its joint-space
 * embedding (unnormalised), and texts embed through a lookup function, so every cosine is known.
 */
const D = 8;
const axis = (i: number, scale = 1): number[] => Array.from({ length: D }, (_, d) => (d === i ? scale : 0));
const plus = (...vs: number[][]): number[] => vs.reduce((acc, v) => acc.map((x, d) => x + v[d]), new Array(D).fill(0));

function encoderOf(textVector: (text: string) => number[]): VisionLanguageEncoder & { textCalls: number[] } {
  const textCalls: number[] = [];
  const normalise = (x: tf.Tensor2D) => tf.div(x, tf.norm(x, 'euclidean', 1, true)) as Tensor2D;
  return {
    featureDim: D,
    jointDim: D,
    textCalls,
    embed: (images: Tensor4D) => tf.reshape(images, [images.shape[0], D]) as Tensor2D,
    embedImages: (images: Tensor4D) => tf.tidy(() => normalise(tf.reshape(images, [images.shape[0], D]) as Tensor2D)),
    embedTexts(texts: readonly string[]) {
      textCalls.push(texts.length);
      return tf.tidy(() => normalise(tf.tensor2d(texts.map(textVector), [texts.length, D])));
    },
  };
}

function vectorDataset(name: string, rows: number[][], extra: { labels?: number[]; classNames?: string[]; captions?: string[] } = {}): Dataset {
  const labels = extra.labels ? Int32Array.from(extra.labels) : undefined;
  return {
    info: { name, size: rows.length, imageShape: [1, 1, D], classNames: extra.classNames },
    labels,
    captions: extra.captions,
    async read(indices: ArrayLike<number>) {
      const idx = Int32Array.from(indices);
      return {
        images: tf.tensor4d(Array.from(idx, (i) => rows[i]).flat(), [idx.length, 1, 1, D]),
        indices: idx,
        labels: labels ? Int32Array.from(idx, (i) => labels[i]) : undefined,
      };
    },
  };
}

const registry = new Registry().register(plugins);
const ctx = { rng: new Rng(0), events: new EventBus() };
const imageOnly: FeatureExtractor = { featureDim: D, embed: (x: Tensor4D) => tf.reshape(x, [x.shape[0], D]) as Tensor2D };

async function rejection(promise: Promise<unknown>): Promise<GenviewError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GenviewError) return error;
    throw error;
  }
  throw new Error('expected a GenviewError');
}

describe('zero-shot', () => {
  // Six classes on axes 0..5. Template "A {}" tilts class c towards axis c+1 and template "B {}" away
  // from it by the same amount, so only their ensemble points exactly along axis c.
  const CLASSES = ['cat', 'dog', 'owl', 'fox', 'elk', 'yak'];
  const textVector = (text: string): number[] => {
    const [template, name] = text.split(' ');
    const c = CLASSES.indexOf(name);
    if (c < 0) throw new Error(`unexpected prompt "${text}"`);
    const next = axis((c + 1) % 6, 0.9);
    return template === 'A' ? plus(axis(c), next) : plus(axis(c), next.map((v) => -v));
  };
  // Cosine to class c, up to one positive factor, is the image's coordinate c; so by construction:
  const images = [
    ...CLASSES.map((_, c) => axis(c)), // 6 on their own axis: right
    [0.5, 0, 0, 1, 0, 0, 0, 0], // label 0: class 3 scores higher, class 0 second: top-5 only
    [0.1, 0.1, 0.1, 0.1, -0.2, 1, 0, 0], // label 4: ranked 6th of 6: wrong in top-5 too
    [0, 0.95, 1, 0, 0, 0, 0, 0], // label 2: right by the ensemble, wrong by template A alone (class 1 ∝ e1 + 0.9 e2)
  ];
  const labels = [0, 1, 2, 3, 4, 5, 0, 4, 2];
  const data = { train: vectorDataset('vl-train', images, { labels, classNames: CLASSES }), test: vectorDataset('vl-test', images, { labels, classNames: CLASSES }) };

  it('ensembles prompts into one renormalised embedding per class', async () => {
    const encoder = encoderOf(textVector);
    const classes = await classEmbeddings(encoder, CLASSES, ['A {}', 'B {}'], 5);
    // The ± tilts cancel: every class embedding is its own axis. 12 prompts in batches of 5.
    for (let c = 0; c < 6; c++) {
      const row = Array.from(classes.subarray(c * D, (c + 1) * D));
      for (const [d, v] of row.entries()) expect(v).toBeCloseTo(d === c ? 1 : 0, 6);
    }
    expect(encoder.textCalls).toEqual([5, 5, 2]);
  });

  it('gives the accuracy the geometry fixes, in batches, without leaking tensors', async () => {
    const zeroShot = await registry.create('evaluator', { name: 'zero-shot', templates: ['A {}', 'B {}'], batchSize: 4, chunkSize: 2 }, ctx);
    const encoder = encoderOf(textVector);
    const before = tf.memory().numTensors;
    const result = await zeroShot.evaluate(encoder, data);
    expect(tf.memory().numTensors).toBe(before);
    expect(result.metrics).toEqual({ zeroshot_top1: 7 / 9, zeroshot_top5: 8 / 9 });
    expect(result.description).toMatch(/renormalised mean of its 2 prompts' L2-normalised embeddings/);
    expect(result.description).toMatch(/6 classes; test vl-test n=9; top-1 and top-5 accuracy/);
    // One template alone misreads the last image.
    const single = await registry.create('evaluator', { name: 'zero-shot', templates: ['A {}'] }, ctx);
    expect((await single.evaluate(encoder, data)).metrics.zeroshot_top1).toBe(6 / 9);
    // Through the runner's caching wrapper, the joint space is still there.
    expect((await zeroShot.evaluate(cachedFeatures(encoder), data)).metrics.zeroshot_top1).toBe(7 / 9);
  });

  it('reads class names from the config when given, and reports only top-1 below five classes', async () => {
    const names = ['red', 'green', 'blue'];
    const colours = encoderOf((text) => axis(names.indexOf(text.replace(/^a (photo|picture) of a |^a /, '').replace(/\.$/, ''))));
    const rows = [axis(0), axis(1), axis(2), axis(1)];
    const test = vectorDataset('colours', rows, { labels: [0, 1, 2, 2], classNames: ['x', 'y', 'z'] });
    const zeroShot = await registry.create('evaluator', { name: 'zero-shot', classNames: names }, ctx);
    const result = await zeroShot.evaluate(colours, { train: test, test });
    expect(result.metrics).toEqual({ zeroshot_top1: 0.75 });
    expect(result.description).toMatch(/3 classes named in the config/);
    expect(result.description).toMatch(/"a photo of a \{\}\.", "a \{\}\.", "a picture of a \{\}\."/);
  });

  it('zeroShotClassify breaks ties towards the lower class id', () => {
    const classFeatures = Float32Array.from([...axis(0), ...axis(1)]);
    const imageFeatures = Float32Array.from([...plus(axis(0), axis(1)), ...plus(axis(0), axis(1))]);
    expect(zeroShotClassify({ imageFeatures, labels: Int32Array.from([0, 1]), classFeatures, numClasses: 2 })).toEqual({ top1: 0.5 });
  });

  it('refuses an image-only encoder, and data without class names or labels', async () => {
    const zeroShot = await registry.create('evaluator', 'zero-shot', ctx);
    let e = await rejection(zeroShot.evaluate(imageOnly, data));
    expect(e.where).toBe('zero-shot');
    expect(e.message).toMatch(/no joint image-text space/);
    const unnamed = vectorDataset('unnamed', images, { labels });
    e = await rejection(zeroShot.evaluate(encoderOf(textVector), { train: unnamed, test: unnamed }));
    expect(e.message).toMatch(/no class names \(test\.info\.classNames\)/);
    expect(e.fix).toMatch(/classNames/);
    const unlabelled = vectorDataset('unlabelled', images, { classNames: CLASSES });
    e = await rejection(zeroShot.evaluate(encoderOf(textVector), { train: unlabelled, test: unlabelled }));
    expect(e.message).toMatch(/has no labels/);
    await expect(registry.create('evaluator', { name: 'zero-shot', templates: ['a photo'] }, ctx)).rejects.toThrow(/must contain \{\}/);
  });
});

describe('retrieval', () => {
  // Distinct captions embed on axes 0..4; image embeddings are placed so every rank is known:
  const CAPTIONS = ['red', 'blue', 'red', 'green', 'pink', 'gray'];
  const UNIQUE = ['red', 'blue', 'green', 'pink', 'gray'];
  const textVector = (text: string) => axis(UNIQUE.indexOf(text));
  const images = [
    axis(0), // red: its caption first
    axis(1), // blue: first
    axis(0), // red again: ties with caption 0, which is identical, so also correct at rank 1
    plus(axis(1), axis(2, 0.5)), // green: "blue" (1 text) scores higher → rank 2
    plus(axis(0), axis(3, 0.3)), // pink: both "red" texts score higher → rank 3
    axis(4, -1), // gray: its caption is the only negative cosine → rank 6
  ];
  // Text queries: red's correct images {0, 2} score 1 (top); blue → image 1 (1 > 0.89 of image 3);
  // green and pink are only positive on their own image; gray scores −1 on its image, 0 on the 5 others.
  const expected = {
    'i2t_R@1': 3 / 6,
    't2i_R@1': 5 / 6,
    'i2t_R@5': 5 / 6,
    't2i_R@5': 5 / 6,
    'i2t_R@10': 1,
    't2i_R@10': 1,
  };
  const data = () => {
    const test = vectorDataset('captioned', images, { captions: CAPTIONS });
    return { train: test, test };
  };

  it('gives the recalls the geometry fixes, counting identical captions as correct', async () => {
    const retrieval = await registry.create('evaluator', { name: 'retrieval', batchSize: 4, textBatchSize: 2, chunkSize: 2 }, ctx);
    const encoder = encoderOf(textVector);
    const before = tf.memory().numTensors;
    const result = await retrieval.evaluate(encoder, data());
    expect(tf.memory().numTensors).toBe(before);
    expect(result.metrics).toEqual(expected);
    // Only the 5 distinct captions are embedded, 2 at a time.
    expect(encoder.textCalls).toEqual([2, 2, 1]);
    expect(result.description).toMatch(/n=6 images and their n captions \(5 distinct\)/);
    expect(result.description).toMatch(/synthetic datasets repeat captions/);
  });

  it('agrees chunked and unchunked on random embeddings, and a collapsed encoder scores near zero', () => {
    const rng = new Rng(4);
    const n = 37;
    const captions = Array.from({ length: n }, (_, i) => `caption ${i % 29}`);
    const { unique, groups, counts } = captionGroups(captions);
    expect(unique.length).toBe(29);
    expect(counts[0]).toBe(2);
    const input = { imageFeatures: rng.normalArray(n * D), textFeatures: rng.normalArray(unique.length * D), groups, ks: [1, 5, 10] };
    const before = tf.memory().numTensors;
    const whole = retrievalRecall({ ...input, chunkSize: 1000 });
    expect(retrievalRecall({ ...input, chunkSize: 3 })).toEqual(whole);
    expect(tf.memory().numTensors).toBe(before);
    // All cosines equal: every wrong item ties with the right one and counts against it.
    const collapsed = retrievalRecall({ ...input, imageFeatures: new Float32Array(n * D).fill(1), textFeatures: new Float32Array(unique.length * D).fill(1) });
    expect(collapsed).toEqual({ imageToText: [0, 0, 0], textToImage: [0, 0, 0] });
  });

  it('names test.captions and the fix when captions are missing, and refuses an image-only encoder', async () => {
    const retrieval = await registry.create('evaluator', 'retrieval', ctx);
    const bare = vectorDataset('uncaptioned', images);
    let e = await rejection(retrieval.evaluate(encoderOf(textVector), { train: bare, test: bare }));
    expect(e.where).toBe('retrieval');
    expect(e.message).toMatch(/no captions \(test\.captions\)/);
    expect(e.fix).toMatch(/one caption per image/);
    const short = vectorDataset('short', images, { captions: CAPTIONS.slice(1) });
    e = await rejection(retrieval.evaluate(encoderOf(textVector), { train: short, test: short }));
    expect(e.message).toMatch(/test\.captions holds 5 captions for 6 images/);
    e = await rejection(retrieval.evaluate(imageOnly, data()));
    expect(e.message).toMatch(/no joint image-text space/);
    expect(e.where).toBe('retrieval');
  });
});
