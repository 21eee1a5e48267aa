import { type EvalResult, GenviewError, definePlugin, requireVisionLanguageEncoder, tf, z } from '@genview/core';
import { extractFeatures, subsetIndices } from '../features';
import { embedTextsBatched, jointImageExtractor } from '../joint-space';
import { l2NormalizeRows } from '../math';

const WHERE = 'retrieval';

/** Distinct captions, the distinct caption of each input, and how often each occurs. */
export interface CaptionGroups {
  unique: string[];
  /** Index into `unique` of each caption, in input order. */
  groups: Int32Array;
  /** Occurrences of each unique caption. */
  counts: Int32Array;
}

export function captionGroups(captions: readonly string[]): CaptionGroups {
  const ids = new Map<string, number>();
  const groups = Int32Array.from(captions, (caption) => {
    let id = ids.get(caption);
    if (id === undefined) {
      id = ids.size;
      ids.set(caption, id);
    }
    return id;
  });
  const counts = new Int32Array(ids.size);
  for (const g of groups) counts[g]++;
  return { unique: [...ids.keys()], groups, counts };
}

export interface RetrievalInput {
  /** Row-major [images, dim] joint-space image embeddings. */
  imageFeatures: Float32Array;
  /** Row-major [unique captions, dim] joint-space text embeddings, one per distinct caption. */
  textFeatures: Float32Array;
  /** The caption of each image, as an index into the text rows (captionGroups().groups). */
  groups: Int32Array;
  /** Recall cut-offs. */
  ks: readonly number[];
  /** Query rows per similarity block: peak memory is chunkSize × gallery floats. */
  chunkSize?: number;
}

export interface RetrievalRecall {
  /** Recall@k of image queries against the texts, aligned with ks. */
  imageToText: number[];
  /** Recall@k of text queries against the images, aligned with ks. */
  textToImage: number[];
}

/**
 * Image↔text Recall@K with one caption per image. The text gallery is every image's caption, so a
 * caption shared by m images appears m times; identical texts embed identically, so they are scored once
 * (a distinct-caption row standing for its m copies) and counted m times.
 * - Image i's correct texts are caption i and every identical caption: its best-ranked correct text is at
 *   1 + (number of wrong texts scoring ≥ its caption's score).
 * - A text's correct images are all images with that caption: rank 1 + (wrong images scoring ≥ the best
 *   correct image). Every copy of a caption gets the same rank, so each distinct caption counts m times.
 * Ties with a wrong item count against the query, so a collapsed encoder scores near zero, not perfectly.
 */
export function retrievalRecall(input: RetrievalInput): RetrievalRecall {
  const { imageFeatures, textFeatures, groups, ks } = input;
  const chunkSize = input.chunkSize ?? 256;
  const n = groups.length;
  if (n === 0) throw new GenviewError('EMPTY_DATASET', 'retrieval needs at least one image and caption.', { where: WHERE });
  const dim = imageFeatures.length / n;
  const g = textFeatures.length / dim;
  if (!Number.isInteger(dim) || !Number.isInteger(g) || groups.some((x) => x < 0 || x >= g)) {
    throw new GenviewError(
      'BAD_SHAPE',
      `features must be row-major [count, dim] and groups index the text rows: ${imageFeatures.length} image values for ${n} images, ${textFeatures.length} text values.`,
      { where: WHERE },
    );
  }
  if (!(chunkSize >= 1) || ks.some((k) => !(k >= 1))) {
    throw new GenviewError('BAD_INPUT', `ks must be ≥ 1 and chunkSize ≥ 1; got ks=${ks}, chunkSize=${chunkSize}.`, { where: WHERE });
  }
  const counts = new Int32Array(g);
  for (const x of groups) counts[x]++;

  const images = tf.tidy(() => l2NormalizeRows(tf.tensor2d(imageFeatures, [n, dim])));
  const texts = tf.tidy(() => l2NormalizeRows(tf.tensor2d(textFeatures, [g, dim])));
  const imageHits = new Float64Array(ks.length);
  const textHits = new Float64Array(ks.length);
  const credit = (hits: Float64Array, wrongAhead: number, weight: number) => {
    ks.forEach((k, i) => {
      if (wrongAhead < k) hits[i] += weight;
    });
  };
  try {
    // Image queries against the distinct captions, a block of images at a time.
    forEachBlock(images, texts, chunkSize, (row, scores) => {
      const own = groups[row];
      const best = scores[own];
      let wrongAhead = 0;
      for (let t = 0; t < g; t++) if (t !== own && scores[t] >= best) wrongAhead += counts[t];
      credit(imageHits, wrongAhead, 1);
    });
    // Distinct-caption queries against the images, each standing for its copies.
    forEachBlock(texts, images, chunkSize, (caption, scores) => {
      let best = -Infinity;
      for (let i = 0; i < n; i++) if (groups[i] === caption && scores[i] > best) best = scores[i];
      let wrongAhead = 0;
      for (let i = 0; i < n; i++) if (groups[i] !== caption && scores[i] >= best) wrongAhead++;
      credit(textHits, wrongAhead, counts[caption]);
    });
  } finally {
    tf.dispose([images, texts]);
  }
  return { imageToText: Array.from(imageHits, (h) => h / n), textToImage: Array.from(textHits, (h) => h / n) };
}

/** Cosines of every query row against the whole gallery, `chunkSize` query rows per matMul. */
function forEachBlock(queries: tf.Tensor2D, gallery: tf.Tensor2D, chunkSize: number, visit: (row: number, scores: Float32Array) => void): void {
  const [rows, dim] = queries.shape;
  const size = gallery.shape[0];
  const galleryT = tf.transpose(gallery);
  try {
    for (let start = 0; start < rows; start += chunkSize) {
      const count = Math.min(chunkSize, rows - start);
      const block = tf.tidy(() => tf.matMul(tf.slice(queries, [start, 0], [count, dim]), galleryT));
      const scores = block.dataSync() as Float32Array;
      block.dispose();
      for (let r = 0; r < count; r++) visit(start + r, scores.subarray(r * size, (r + 1) * size));
    }
  } finally {
    galleryT.dispose();
  }
}

export const retrievalPlugin = definePlugin({
  kind: 'evaluator',
  name: 'retrieval',
  package: '@genview/eval',
  description:
    "Image→text and text→image Recall@K in a vision-language encoder's joint space, on the test split's captions (one per image). " +
    'Identical captions count as correct for each other, since synthetic datasets repeat captions.',
  configSchema: z
    .object({
      ks: z.array(z.number().int().positive()).nonempty().default([1, 5, 10]),
      /** Images per embedImages call. */
      batchSize: z.number().int().positive().default(256),
      /** Captions per embedTexts call. */
      textBatchSize: z.number().int().positive().default(256),
      /** Query rows per similarity block (10k × 10k runs in blocks of chunkSize × 10k). */
      chunkSize: z.number().int().positive().default(256),
      /** Use a seeded random subset of this many test images and their captions (the same subset every evaluation). */
      limitTest: z.number().int().positive().optional(),
    })
    .strict(),
  create: (config, context) => ({
    name: 'retrieval',
    async evaluate(encoder, data): Promise<EvalResult> {
      const joint = requireVisionLanguageEncoder(encoder, WHERE);
      const test = data.test;
      const captions = test.captions;
      if (!captions) {
        throw new GenviewError('BAD_INPUT', `the test dataset "${test.info.name}" has no captions (test.captions); retrieval pairs image i with caption i.`, {
          where: WHERE,
          fix: 'evaluate on a captioned test split (Dataset.captions: one caption per image, in index order), or drop the retrieval evaluator.',
        });
      }
      if (captions.length !== test.info.size) {
        throw new GenviewError('BAD_INPUT', `test.captions holds ${captions.length} captions for ${test.info.size} images; retrieval needs one per image.`, {
          where: WHERE,
          fix: 'give exactly one caption per image, in index order.',
        });
      }
      const indices = subsetIndices(test.info.size, config.limitTest, context.rng.fork('limit-test'));
      const picked = indices ? Array.from(indices, (i) => captions[i]) : [...captions];
      const set = await extractFeatures(jointImageExtractor(joint), test, {
        batchSize: config.batchSize,
        indices,
        events: context.events,
        task: `${WHERE}: embed test`,
      });
      const { unique, groups } = captionGroups(picked);
      const textFeatures = await embedTextsBatched(joint, unique, config.textBatchSize, WHERE);
      const ks = [...new Set(config.ks)].sort((a, b) => a - b);
      const recall = retrievalRecall({ imageFeatures: set.features, textFeatures, groups, ks, chunkSize: config.chunkSize });
      const metrics: Record<string, number> = {};
      ks.forEach((k, i) => {
        metrics[`i2t_R@${k}`] = recall.imageToText[i];
        metrics[`t2i_R@${k}`] = recall.textToImage[i];
      });
      const subset = indices !== undefined ? ' (seeded subset)' : '';
      return {
        evaluator: 'retrieval',
        metrics,
        description:
          `image→text and text→image Recall@${ks.join(',')} by cosine in the joint image-text space (E=${joint.jointDim}) on test ` +
          `${test.info.name}: n=${groups.length} images${subset} and their n captions (${unique.length} distinct); image i's correct texts ` +
          `are caption i and every caption identical to it (synthetic datasets repeat captions), a caption's correct images are all images ` +
          'carrying it; ties with a wrong item count against the query',
      };
    },
  }),
});
