import { GenviewError, type Scalar, ShapeCheck, type Tensor1D, type Tensor2D, definePlugin, tf, z } from '@genview/core';
import { checkWeights, l2Normalize, maskedCrossEntropy, meanRowCosine, requireList, requirePositive, weightedMean } from '../common';

export interface ClipLossOptions {
  /** Fixed temperature, used only when no logitScale is given; CLIP's initial value is 0.07. */
  temperature?: number;
  /**
   * Learnable inverse temperature (CLIP's exp(logit_scale)), a scalar; gradient flows into it. Keeping
   * it in range (CLIP clamps it at 100) is the framework's job, on the variable after each update.
   */
  logitScale?: Scalar;
  /** Per-pair weights [N] (mean 1); pair i's weight multiplies both its image→text and text→image terms. */
  weights?: Tensor1D;
  /** [N, N], 1 where sample j may be a negative of sample i (in both directions); the positive is always kept. */
  negativeMask?: Tensor2D;
}

const WHERE = 'loss clip';

/**
 * CLIP's symmetric contrastive loss (Radford et al. 2021): image embeddings (views[0]) and text
 * embeddings (views[1]) are L2-normalised, logits = s · cos with s the logit scale, and the loss is the
 * mean of the image→text cross-entropy over rows and the text→image one over columns, the positive of
 * image i being text i. With weights w: (mean_i w_i·CE_row_i + mean_i w_i·CE_col_i) / 2, so weights
 * of exactly 1 give the unweighted loss bit for bit.
 */
export function clipLoss(views: Tensor2D[], options: ClipLossOptions = {}): Scalar {
  const [images, texts] = requireList(views, 'views', 2, WHERE, 'pass image embeddings as views[0] and text embeddings as views[1], [N, D] each.');
  const check = new ShapeCheck(WHERE).check(images, 'views[0] (images)', ['N', 'D']).check(texts, 'views[1] (texts)', ['N', 'D']);
  checkWeights(check, options.weights);
  if (options.negativeMask) check.check(options.negativeMask, 'negativeMask', ['N', 'N']);
  const { logitScale } = options;
  if (logitScale) {
    if (logitScale.rank !== 0) {
      throw new GenviewError('BAD_SHAPE', `logitScale must be a scalar, got shape [${logitScale.shape.join(', ')}].`, {
        where: WHERE,
        fix: 'pass the exponentiated logit-scale variable itself (rank 0), e.g. tf.exp(logScale).',
      });
    }
  } else {
    requirePositive(options.temperature ?? 0.07, 'temperature', WHERE);
  }
  const n = images.shape[0];

  return tf.tidy(() => {
    const cosines = tf.matMul(l2Normalize(images), l2Normalize(texts), false, true) as Tensor2D;
    const logits = (logitScale ? tf.mul(cosines, logitScale) : tf.div(cosines, options.temperature ?? 0.07)) as Tensor2D;
    // The positive of row i and of column i is the same entry (i, i).
    const positive = tf.sum(tf.mul(logits, tf.eye(n)), 1) as Tensor1D;
    // Mask entry (i, j) is about samples, so one mask serves both directions.
    const allowed = options.negativeMask ? tf.greater(tf.maximum(options.negativeMask, tf.eye(n)), 0.5) : null;
    const imageToText = weightedMean(maskedCrossEntropy(logits, allowed, positive), options.weights);
    const textToImage = weightedMean(maskedCrossEntropy(tf.transpose(logits), allowed, positive), options.weights);
    return tf.div(tf.add(imageToText, textToImage), 2) as Scalar;
  });
}

export const clipPlugin = definePlugin({
  kind: 'loss',
  name: 'clip',
  package: '@genview/losses',
  description:
    'CLIP symmetric InfoNCE between image embeddings (views[0]) and text embeddings (views[1]), L2-normalised; logits = logitScale · cos ' +
    '(inputs.logitScale when given, else 1/temperature); (CE over rows + CE over columns) / 2; optional per-pair weights and negatives mask. ' +
    'Single positive per row: the multi-positive form needs labels the loss inputs do not carry.',
  configSchema: z
    .object({
      /** Used only when the framework passes no learnable logitScale. */
      temperature: z.number().positive().default(0.07),
    })
    .strict(),
  create: (config) => ({
    name: 'clip',
    requires: [],
    // As CLIP trains: texts and images of every process are candidates; the all-reduced gradient carries world size.
    crossProcess: { kind: 'all-gather-negatives', gradientScale: 'world-size' },
    compute: (inputs) =>
      clipLoss(inputs.views, {
        temperature: config.temperature,
        logitScale: inputs.logitScale,
        weights: inputs.weights,
        negativeMask: inputs.negativeMask,
      }),
    metrics: (inputs) => {
      const [images, texts] = requireList(inputs.views, 'views', 2, WHERE);
      const scale = inputs.logitScale ? inputs.logitScale.dataSync()[0] : 1 / config.temperature;
      return { pos_cos: meanRowCosine(images, texts), logit_scale: scale };
    },
  }),
});
