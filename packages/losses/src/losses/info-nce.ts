import { type Scalar, ShapeCheck, type Tensor1D, type Tensor2D, definePlugin, tf, z } from '@genview/core';
import { checkWeights, l2Normalize, maskedCrossEntropy, meanRowCosine, requireList, requirePositive, weightedMean } from '../common';

export interface InfoNceOptions {
  /** Softmax temperature (MoCo v3 uses 0.2; CLIP learns it). */
  temperature?: number;
  /** Per-pair weights [N]; pair i's weight multiplies anchor i (in both directions when symmetric). */
  weights?: Tensor1D;
  /** [N, N], 1 where sample j may be a negative of anchor sample i; the positive (j = i) is always kept. */
  negativeMask?: Tensor2D;
  /** Also the reverse direction (anchors from view 1), averaged with the forward one, as CLIP does. */
  symmetric?: boolean;
}

const WHERE = 'loss info-nce';

/** One direction: rows are anchors, columns candidates; the positive of row i is column i. */
function oneDirection(logits: Tensor2D, allowed: tf.Tensor | null, weights: Tensor1D | undefined): Scalar {
  return tf.tidy(() => {
    const positive = tf.sum(tf.mul(logits, tf.eye(logits.shape[0])), 1) as Tensor1D;
    return weightedMean(maskedCrossEntropy(logits, allowed, positive), weights);
  });
}

/**
 * InfoNCE between two views: anchors are view 0's L2-normalised rows, candidates view 1's rows, and
 * each anchor classifies its own sample among the N candidates (an N-way cross-entropy). Unlike NT-Xent
 * there are no same-view negatives. `symmetric` averages both directions.
 */
export function infoNce(views: Tensor2D[], options: InfoNceOptions = {}): Scalar {
  const temperature = options.temperature ?? 0.2;
  requirePositive(temperature, 'temperature', WHERE);
  const [a, b] = requireList(views, 'views', 2, WHERE, 'pass anchors as views[0] and candidates as views[1], [N, D] each.');
  const check = new ShapeCheck(WHERE).check(a, 'views[0]', ['N', 'D']).check(b, 'views[1]', ['N', 'D']);
  checkWeights(check, options.weights);
  if (options.negativeMask) check.check(options.negativeMask, 'negativeMask', ['N', 'N']);

  return tf.tidy(() => {
    const logits = tf.div(tf.matMul(l2Normalize(a), l2Normalize(b), false, true), temperature) as Tensor2D;
    // Mask entry (i, j) is about samples, so the same mask serves the transposed direction.
    const allowed = options.negativeMask
      ? tf.greater(tf.maximum(options.negativeMask, tf.eye(a.shape[0])), 0.5)
      : null;
    const forward = oneDirection(logits, allowed, options.weights);
    if (!options.symmetric) return forward;
    const backward = oneDirection(tf.transpose(logits), allowed, options.weights);
    return tf.div(tf.add(forward, backward), 2) as Scalar;
  });
}

export const infoNcePlugin = definePlugin({
  kind: 'loss',
  name: 'info-nce',
  package: '@genview/losses',
  description:
    'InfoNCE: anchors from views[0], candidates from views[1], N-way cross-entropy on L2-normalised embeddings; optional symmetric average, pair weights and negatives mask.',
  configSchema: z
    .object({
      temperature: z.number().positive().default(0.2),
      symmetric: z.boolean().default(false),
    })
    .strict(),
  create: (config) => ({
    name: 'info-nce',
    requires: [],
    // Candidates should come from every process's batch; the all-reduced gradient then carries world size.
    crossProcess: { kind: 'all-gather-negatives', gradientScale: 'world-size' },
    compute: (inputs) =>
      infoNce(inputs.views, {
        temperature: config.temperature,
        symmetric: config.symmetric,
        weights: inputs.weights,
        negativeMask: inputs.negativeMask,
      }),
    metrics: (inputs) => {
      const [a, b] = requireList(inputs.views, 'views', 2, WHERE);
      return { pos_cos: meanRowCosine(a, b) };
    },
  }),
});
