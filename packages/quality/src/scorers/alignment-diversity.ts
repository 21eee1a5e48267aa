import {
  type FeatureExtractor,
  type FrozenVisionLanguageModel,
  GenviewError,
  type QualityInput,
  type QualityScorer,
  ShapeCheck,
  type Tensor1D,
  type Tensor2D,
  type Tensor4D,
  definePlugin,
  l2Normalize,
  stopGradient,
  tf,
  z,
} from '@genview/core';
import { type ForegroundDirection, validateForegroundDirection } from '../foreground/direction';
import { type PooledFeatures, directionColumn, poolForegroundBackground } from '../foreground/masks';
import { directionConfigSchema, encoderConfigSchema, meanOneWeights, obtainExtractor, obtainVisionLanguageModel, requireGamma, resolveDirection, viewTokens } from './shared';

/**
 * GenView++'s quality-driven weights for multi-positive training (several views share a source label,
 * as in StableRep): weight matrices over all view pairs instead of one weight per pair.
 */

/** One integer label per row (views that share a source share a label). */
export type Labels = Int32Array | readonly number[];

// A type alias, not an interface: tf.tidy only returns objects whose type has an index signature.
export type WeightMatrix = {
  /** The raw scores exp(γ·Δ) on allowed pairs, 0 elsewhere (for logging), detached. */
  scores: Tensor2D;
  /** scores / mean of the nonzero scores, 0 on excluded pairs, detached. */
  weights: Tensor2D;
};

const WHERE = 'quality alignment-diversity';

function checkLabels(labels: Labels, rows: number, label: string, where: string): void {
  if (labels.length !== rows) {
    throw new GenviewError('BAD_SHAPE', `${label} has ${labels.length} entries but there are ${rows} rows.`, {
      where,
      fix: `give one integer label per row (${rows}).`,
    });
  }
  for (let i = 0; i < labels.length; i++) {
    if (!Number.isInteger(labels[i])) throw new GenviewError('BAD_INPUT', `${label}[${i}] = ${labels[i]} is not an integer.`, { where });
  }
}

/** [M, K], 1 where rowLabels[i] = colLabels[j] (and i ≠ j when excludeDiagonal), else 0. */
export function labelPairMask(rowLabels: Labels, colLabels: Labels, excludeDiagonal: boolean): Tensor2D {
  const m = rowLabels.length;
  const k = colLabels.length;
  const mask = new Float32Array(m * k);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < k; j++) {
      if (rowLabels[i] === colLabels[j] && !(excludeDiagonal && i === j)) mask[i * k + j] = 1;
    }
  }
  return tf.tensor2d(mask, [m, k]);
}

/**
 * Turns logits γ·Δ over a 0/1 mask into upstream's weights: score = exp(logit)·mask, weight = score /
 * mean of the nonzero scores. The max allowed logit is subtracted before exp for the weights (it cancels
 * in the ratio), so equal logits give weights of exactly 1. With no allowed pair every weight is 0
 * (upstream would divide by zero).
 */
export function nonzeroMeanWeights(logits: Tensor2D, mask: Tensor2D): WeightMatrix {
  return tf.tidy(() => {
    const allowed = tf.greater(mask, 0.5);
    const maskF = tf.cast(allowed, 'float32');
    const excluded = tf.fill(logits.shape, -1e9);
    const max = tf.max(tf.where(allowed, logits, excluded));
    const e = tf.mul(tf.exp(tf.where(allowed, tf.sub(logits, max), excluded)), maskF);
    const count = tf.sum(maskF);
    // Σe ≥ 1 whenever a pair is allowed (its max entry is exp(0)); the floor only guards the empty case.
    const weights = tf.div(tf.mul(e, count), tf.maximum(tf.sum(e), 1));
    return {
      scores: stopGradient(tf.mul(tf.exp(logits), maskF)) as Tensor2D,
      weights: stopGradient(weights) as Tensor2D,
    };
  });
}

/** Cosine of every row of a with every row of b, [M, K]. */
function pairwiseCosine(a: Tensor2D, b: Tensor2D): Tensor2D {
  return tf.tidy(() => tf.matMul(l2Normalize(a), l2Normalize(b), false, true));
}

export interface ImageImageInput {
  /** Pooled foreground features of every view, [M, D]. */
  foreground: Tensor2D;
  /** Pooled background features of every view, [M, D]. */
  background: Tensor2D;
  /** Source label of every view, [M]. */
  labels: Labels;
  /** GenView++ uses 2. */
  gamma?: number;
}

/**
 * Image-image weights: for every pair of views with the same label (diagonal excluded),
 * score = exp(γ1·(sim_fg − sim_bg)) from the pairwise cosine matrices; weight = score / mean nonzero score.
 */
export function imageImageWeights(input: ImageImageInput): WeightMatrix {
  const where = `${WHERE} imageImageWeights`;
  const gamma = input.gamma ?? 2;
  requireGamma(gamma, 'gamma', where);
  new ShapeCheck(where).check(input.foreground, 'foreground', ['M', 'D']).check(input.background, 'background', ['M', 'D']);
  checkLabels(input.labels, input.foreground.shape[0], 'labels', where);
  return tf.tidy(() => {
    const fg = stopGradient(input.foreground);
    const bg = stopGradient(input.background);
    const logits = tf.mul(tf.sub(pairwiseCosine(fg, fg), pairwiseCosine(bg, bg)), gamma) as Tensor2D;
    return nonzeroMeanWeights(logits, labelPairMask(input.labels, input.labels, true));
  });
}

export interface ImageTextInput {
  /** Global embeddings of every view, [M, E] (same space as the text embeddings). */
  viewEmbeddings: Tensor2D;
  /** Text embeddings, [K, E]. */
  textEmbeddings: Tensor2D;
  /** Pooled background features of every view, [M, D]. */
  viewBackgrounds: Tensor2D;
  /** Pooled background features of the real image behind each text, [K, D]. */
  realBackgrounds: Tensor2D;
  viewLabels: Labels;
  textLabels: Labels;
  /** GenView++ uses 2. */
  gamma?: number;
}

/**
 * Image-text weights over label-matching (view, text) pairs: a view that matches the caption (alignment)
 * while its background departs from the real image's (diversity) scores high:
 * score = exp(γ2·(cos(view emb, text emb) − cos(view bg, real image bg))); normalised as above.
 */
export function imageTextWeights(input: ImageTextInput): WeightMatrix {
  const where = `${WHERE} imageTextWeights`;
  const gamma = input.gamma ?? 2;
  requireGamma(gamma, 'gamma', where);
  new ShapeCheck(where)
    .check(input.viewEmbeddings, 'viewEmbeddings', ['M', 'E'])
    .check(input.textEmbeddings, 'textEmbeddings', ['K', 'E'])
    .check(input.viewBackgrounds, 'viewBackgrounds', ['M', 'D'])
    .check(input.realBackgrounds, 'realBackgrounds', ['K', 'D']);
  checkLabels(input.viewLabels, input.viewEmbeddings.shape[0], 'viewLabels', where);
  checkLabels(input.textLabels, input.textEmbeddings.shape[0], 'textLabels', where);
  return tf.tidy(() => {
    const alignment = pairwiseCosine(stopGradient(input.viewEmbeddings), stopGradient(input.textEmbeddings));
    const sameBackground = pairwiseCosine(stopGradient(input.viewBackgrounds), stopGradient(input.realBackgrounds));
    const logits = tf.mul(tf.sub(alignment, sameBackground), gamma) as Tensor2D;
    return nonzeroMeanWeights(logits, labelPairMask(input.viewLabels, input.textLabels, false));
  });
}

/**
 * Pooled fg/bg features of any number of equally shaped view batches, in one encoder pass; rows are the
 * views in order ([V·N, D] each), detached.
 */
export function pooledViewFeatures(extractor: FeatureExtractor, direction: ForegroundDirection, views: readonly Tensor4D[]): PooledFeatures {
  validateForegroundDirection(direction, `${WHERE}.direction`);
  const tokens = viewTokens(extractor, direction, views, `${WHERE}.views`);
  try {
    return tf.tidy(() => {
      const pooled = poolForegroundBackground(stopGradient(tokens), direction, WHERE);
      return { foreground: stopGradient(pooled.foreground), background: stopGradient(pooled.background) };
    });
  } finally {
    tokens.dispose();
  }
}

/** Which pairs pairWeights weighs: two views of one image (SSL), or a view and its caption (CLIP, SLIP). */
export type WeightedPairs = 'image-image' | 'image-text';

export interface AlignmentDiversityOptions {
  extractor: FeatureExtractor;
  direction: ForegroundDirection;
  /** Image-image temperature; GenView++ uses 2. */
  gamma1?: number;
  /** Image-text temperature; GenView++ uses 2. */
  gamma2?: number;
  /** Default image-image; image-text needs `alignment`. */
  pairs?: WeightedPairs;
  /** The frozen image-text model that scores how well a view matches its caption (image-text pairs). */
  alignment?: FrozenVisionLanguageModel;
}

export interface AlignmentDiversityScorer extends QualityScorer {
  readonly gamma1: number;
  readonly gamma2: number;
  readonly pairs: WeightedPairs;
  /** The multi-positive image-image weight matrix over all views (labels: one per row of the concatenated views). */
  viewWeights(views: readonly Tensor4D[], labels: Labels): WeightMatrix;
  /** Image-text weights with this scorer's γ2. */
  imageTextWeights(input: Omit<ImageTextInput, 'gamma'>): WeightMatrix;
  dispose(): void;
}

/**
 * The alignment-diversity scorer. For image-image pairs, pairWeights is the two-view special case of the
 * matrix: views of pair i share label i, so the only allowed entries are (i, N+i) and (N+i, i); the
 * matrix is symmetric, and its nonzero mean equals the mean over the N pairs: the weights are
 * N·score/Σscore with γ1. For image-text pairs (view 0 of pair i with caption i) it is the diagonal of
 * imageTextWeights: the frozen model's cos(view, caption) minus the cosine of view 0's background with
 * the real image's (input.sources).
 */
export function createAlignmentDiversityScorer(options: AlignmentDiversityOptions): AlignmentDiversityScorer {
  const gamma1 = options.gamma1 ?? 2;
  const gamma2 = options.gamma2 ?? 2;
  requireGamma(gamma1, 'gamma1', WHERE);
  requireGamma(gamma2, 'gamma2', WHERE);
  validateForegroundDirection(options.direction, `${WHERE}.direction`);
  if (typeof options.extractor?.patchTokens !== 'function') {
    throw new GenviewError('BAD_INPUT', 'the feature extractor has no patchTokens(): foreground masks need a spatial token map [N, T, D].', {
      where: `${WHERE}.extractor`,
      fix: 'use an encoder with a spatial feature map (a backbone with featureMap, or an ONNX encoder exporting patch tokens).',
    });
  }
  const { extractor, direction, alignment } = options;
  const pairs = options.pairs ?? 'image-image';
  if (pairs === 'image-text' && alignment === undefined) {
    throw new GenviewError('BAD_INPUT', 'image-text pair weights need a frozen image-text model to score view–caption alignment.', {
      where: `${WHERE}.alignment`,
      fix: 'pass alignment (e.g. OnnxClipModel.load(dir) from @genview/views), or weigh image-image pairs.',
    });
  }
  let column: Tensor2D | undefined = directionColumn(direction);
  const liveColumn = (): Tensor2D => {
    if (!column) throw new GenviewError('BAD_INPUT', 'this scorer was disposed.', { where: WHERE, fix: 'create a new scorer.' });
    return column;
  };

  const viewWeights = (views: readonly Tensor4D[], labels: Labels): WeightMatrix => {
    const v = liveColumn();
    const tokens = viewTokens(extractor, direction, views, `${WHERE}.views`);
    try {
      return tf.tidy(() => {
        const pooled = poolForegroundBackground(stopGradient(tokens), v, WHERE);
        return imageImageWeights({ foreground: pooled.foreground, background: pooled.background, labels, gamma: gamma1 });
      });
    } finally {
      tokens.dispose();
    }
  };

  /**
   * Per pair i: γ2·(cos(view 0, caption) − cos(bg of view 0, bg of the real image)), as mean-one weights.
   * The encoder passes (cheap, and where shape errors surface) run before the frozen model's.
   */
  const imageTextPairWeights = async (input: QualityInput): Promise<Tensor1D> => {
    const [view] = input.views;
    const n = view.shape[0];
    const { captions, sources } = input;
    if (!Array.isArray(captions) || captions.length !== n) {
      throw new GenviewError('BAD_INPUT', `image-text pair weights need one caption per pair (${n}), got ${captions?.length ?? 'none'}.`, {
        where: `${WHERE}.captions`,
        fix: 'train on a captioned dataset (e.g. fashion-mnist with captions: true), or weigh image-image pairs.',
      });
    }
    if (sources === undefined || sources.rank !== 4 || sources.shape[0] !== n) {
      throw new GenviewError('BAD_INPUT', `image-text pair weights need the ${n} real images the views were made from, got ${sources ? `[${sources.shape.join(', ')}]` : 'none'}.`, {
        where: `${WHERE}.sources`,
        fix: 'pass { views, captions, sources } with sources [N, H, W, C], the un-augmented images (the genview trainer does).',
      });
    }
    const v = liveColumn();
    const model = alignment as FrozenVisionLanguageModel;
    const owned: Tensor2D[] = [];
    try {
      const backgroundOf = (images: Tensor4D, label: string): Tensor2D => {
        const tokens = viewTokens(extractor, direction, [images], `${WHERE}.${label}`);
        try {
          return tf.tidy(() => l2Normalize(poolForegroundBackground(stopGradient(tokens), v, WHERE).background) as Tensor2D);
        } finally {
          tokens.dispose();
        }
      };
      const viewBg = backgroundOf(view, 'views[0]');
      owned.push(viewBg);
      const realBg = backgroundOf(sources, 'sources');
      owned.push(realBg);
      const embedded = await Promise.allSettled([model.embedImages(view), model.embedTexts(captions)]);
      for (const r of embedded) if (r.status === 'fulfilled') owned.push(r.value);
      for (const r of embedded) if (r.status === 'rejected') throw r.reason;
      const [imageRows, textRows] = embedded.map((r) => (r as PromiseFulfilledResult<Tensor2D>).value) as [Tensor2D, Tensor2D];
      return tf.tidy(() => {
        const sameBackground = tf.sum(tf.mul(viewBg, realBg), 1);
        const aligned = tf.sum(tf.mul(l2Normalize(imageRows), l2Normalize(textRows)), 1);
        return stopGradient(meanOneWeights(tf.mul(tf.sub(aligned, sameBackground), gamma2) as Tensor1D)) as Tensor1D;
      });
    } finally {
      tf.dispose(owned);
    }
  };

  return {
    name: 'alignment-diversity',
    gamma1,
    gamma2,
    pairs,
    viewWeights,
    imageTextWeights: (input) => imageTextWeights({ ...input, gamma: gamma2 }),
    pairWeights: (input) => {
      const views = input?.views;
      if (!Array.isArray(views) || views.length !== 2) {
        throw new GenviewError('BAD_INPUT', 'views must hold the two views of each pair.', {
          where: `${WHERE}.views`,
          fix: 'pass { views: [view1, view2] }, [N, H, W, C] each; use viewWeights for more views per source.',
        });
      }
      if (pairs === 'image-text') return imageTextPairWeights(input);
      const n = views[0].shape[0];
      const labels = Int32Array.from({ length: 2 * n }, (_, i) => i % n);
      const matrix = viewWeights(views, labels);
      return tf.tidy(() => {
        const crossBlock = tf.slice(matrix.weights, [0, n], [n, n]);
        const out = stopGradient(tf.sum(tf.mul(crossBlock, tf.eye(n)), 1)) as Tensor1D;
        tf.dispose([matrix.scores, matrix.weights]);
        return out;
      });
    },
    dispose: () => {
      column?.dispose();
      column = undefined;
    },
  };
}

export const alignmentDiversityPlugin = definePlugin({
  kind: 'quality',
  name: 'alignment-diversity',
  package: '@genview/quality',
  description:
    'GenView++ multi-positive weights: image-image exp(γ1·(sim_fg − sim_bg)) over same-source view pairs, image-text exp(γ2·(cos(view, text) − cos(view bg, real bg))), each over its mean nonzero score.',
  configSchema: z
    .object({
      gamma1: z.number().min(0).default(2),
      gamma2: z.number().min(0).default(2),
      direction: directionConfigSchema,
      /** The frozen encoder whose patch tokens give foreground and background features. */
      encoder: encoderConfigSchema,
      /** image-image: the two views of an image (SSL frameworks); image-text: view 0 and its caption (clip, slip). */
      pairs: z.enum(['image-image', 'image-text']).default('image-image'),
      /** The frozen image-text model scoring view–caption alignment, by name (e.g. onnx:tiny-clip); needed by image-text pairs. */
      alignment: z.string().min(1).optional(),
    })
    .strict()
    .superRefine((config, ctx) => {
      if (config.pairs === 'image-image' && config.alignment !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['alignment'],
          message: 'alignment scores image-text pairs only: set pairs: image-text, or leave alignment out for image-image weights',
        });
      }
      if (config.pairs === 'image-text' && config.alignment === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['alignment'],
          message: 'pairs: image-text needs alignment, the frozen image-text model that scores each view against its caption (e.g. alignment: onnx:tiny-clip)',
        });
      }
    }),
  create: async (config, context) => {
    const direction = await resolveDirection(config.direction, `${context.path}.direction`);
    const extractor = await obtainExtractor(context, config.encoder);
    const alignment = config.alignment === undefined ? undefined : await obtainVisionLanguageModel(context, config.alignment);
    return createAlignmentDiversityScorer({ extractor, direction, gamma1: config.gamma1, gamma2: config.gamma2, pairs: config.pairs, alignment });
  },
});
