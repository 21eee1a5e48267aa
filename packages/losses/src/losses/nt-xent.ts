import { type Scalar, ShapeCheck, type Tensor1D, type Tensor2D, definePlugin, tf, z } from '@genview/core';
import { checkWeights, l2Normalize, maskedCrossEntropy, meanRowCosine, requireList, requirePositive, weightedMean } from '../common';

export interface NtXentOptions {
  /** Softmax temperature; SimCLR's CIFAR setting is 0.5 (0.1 on ImageNet). */
  temperature?: number;
  /** Per-pair weights [N] (mean 1 by convention); pair i's weight multiplies both anchors i and N+i. */
  weights?: Tensor1D;
  /**
   * [N, N], 1 where sample j may serve as a negative for anchor sample i (in either view). The positive
   * is always kept and self-similarity always excluded, whatever the mask says. MCL builds it from
   * pseudo labels.
   */
  negativeMask?: Tensor2D;
}

const WHERE = 'loss nt-xent';

/**
 * SimCLR's NT-Xent: the two views are stacked into 2N L2-normalised rows; each anchor's positive is the
 * other view of its sample and its candidates are all 2N − 1 other rows (self excluded). The per-anchor
 * cross-entropies are multiplied by their pair weight and averaged over the 2N anchors. With weights of
 * mean 1 (the quality-scorer convention), a zero weight removes that pair's two terms while the pair
 * still serves as negatives for others; weights of exactly 1 reproduce the unweighted loss bit for bit.
 */
export function ntXent(views: Tensor2D[], options: NtXentOptions = {}): Scalar {
  const temperature = options.temperature ?? 0.5;
  requirePositive(temperature, 'temperature', WHERE);
  const [a, b] = requireList(views, 'views', 2, WHERE, 'pass the two views of each sample, [N, D] each.');
  const check = new ShapeCheck(WHERE).check(a, 'views[0]', ['N', 'D']).check(b, 'views[1]', ['N', 'D']);
  checkWeights(check, options.weights);
  if (options.negativeMask) check.check(options.negativeMask, 'negativeMask', ['N', 'N']);
  const n = a.shape[0];

  return tf.tidy(() => {
    const zs = tf.concat([l2Normalize(a), l2Normalize(b)], 0);
    const logits = tf.div(tf.matMul(zs, zs, false, true), temperature) as Tensor2D;
    // Positive logit of anchor i and of anchor N+i is the same dot product of the pair.
    const pairLogit = tf.div(tf.sum(tf.mul(tf.slice(zs, [0, 0], [n, -1]), tf.slice(zs, [n, 0], [n, -1])), 1), temperature);
    const positive = tf.concat([pairLogit, pairLogit]) as Tensor1D;

    const notSelf = tf.sub(1, tf.eye(2 * n));
    let allowed: tf.Tensor;
    if (options.negativeMask) {
      const eyeN = tf.eye(n);
      const zerosN = tf.zerosLike(eyeN);
      // Off-diagonal blocks' diagonals are the positives: forced in, whatever the mask holds.
      const positives = tf.concat([tf.concat([zerosN, eyeN], 1), tf.concat([eyeN, zerosN], 1)], 0);
      const tiled = tf.tile(tf.cast(tf.greater(options.negativeMask, 0.5), 'float32'), [2, 2]);
      allowed = tf.greater(tf.maximum(tf.mul(tiled, notSelf), positives), 0.5);
    } else {
      allowed = notSelf;
    }
    const perAnchor = maskedCrossEntropy(logits, allowed, positive);
    const weights = options.weights ? (tf.concat([options.weights, options.weights]) as Tensor1D) : undefined;
    return weightedMean(perAnchor, weights);
  });
}

export const ntXentPlugin = definePlugin({
  kind: 'loss',
  name: 'nt-xent',
  package: '@genview/losses',
  description:
    'SimCLR NT-Xent over 2N L2-normalised embeddings (symmetric, self excluded), per-pair weights and an optional negatives mask.',
  configSchema: z
    .object({
      temperature: z.number().positive().default(0.5),
    })
    .strict(),
  create: (config) => ({
    name: 'nt-xent',
    requires: [],
    // Negatives should span every process's batch; the all-reduced gradient then carries world size.
    crossProcess: { kind: 'all-gather-negatives', gradientScale: 'world-size' },
    compute: (inputs) =>
      ntXent(inputs.views, { temperature: config.temperature, weights: inputs.weights, negativeMask: inputs.negativeMask }),
    metrics: (inputs) => {
      const [a, b] = requireList(inputs.views, 'views', 2, WHERE);
      return { pos_cos: meanRowCosine(a, b) };
    },
  }),
});
