import { GenviewError, type LossInputs, type Scalar, ShapeCheck, type Tensor1D, type Tensor2D, definePlugin, tf, z } from '@genview/core';
import { checkWeights, l2Normalize, maskedCrossEntropy, missing, requirePositive, stopGradient, weightedMean } from '../common';

export interface InfoNceQueueOptions {
  /** MoCo v2's temperature is 0.2 (v1 used 0.07). */
  temperature?: number;
  /** Per-query weights [N]. */
  weights?: Tensor1D;
  /** [N, Q], 1 where queue entry j may be a negative of query i; the key (positive) is always kept. */
  queueNegativeMask?: Tensor2D;
}

const WHERE = 'loss moco-queue';

/**
 * MoCo's InfoNCE against a queue: logits [q·k, q·queue] / t with the key in column 0, cross-entropy with
 * label 0. q, k and the queue rows are L2-normalised here (a no-op when the encoder already did). k and
 * the queue carry no gradient, as in MoCo where both come from the momentum encoder.
 */
export function infoNceQueue(q: Tensor2D, k: Tensor2D, queue: Tensor2D, options: InfoNceQueueOptions = {}): Scalar {
  const temperature = options.temperature ?? 0.2;
  requirePositive(temperature, 'temperature', WHERE);
  const check = new ShapeCheck(WHERE).check(q, 'q', ['N', 'D']).check(k, 'k', ['N', 'D']).check(queue, 'queue', ['Q', 'D']);
  checkWeights(check, options.weights);
  if (options.queueNegativeMask) check.check(options.queueNegativeMask, 'queueNegativeMask', ['N', 'Q']);

  return tf.tidy(() => {
    const qn = l2Normalize(q);
    const kn = stopGradient(l2Normalize(k));
    const queueN = stopGradient(l2Normalize(queue));
    const positive = tf.div(tf.sum(tf.mul(qn, kn), 1, true), temperature) as Tensor2D;
    const negatives = tf.div(tf.matMul(qn, queueN, false, true), temperature) as Tensor2D;
    const logits = tf.concat([positive, negatives], 1) as Tensor2D;
    let allowed: tf.Tensor | null = null;
    if (options.queueNegativeMask) {
      const keep = tf.greater(options.queueNegativeMask, 0.5);
      allowed = tf.concat([tf.cast(tf.onesLike(positive), 'bool'), keep], 1);
    }
    const perQuery = maskedCrossEntropy(logits, allowed, tf.reshape(positive, [-1]) as Tensor1D);
    return weightedMean(perQuery, options.weights);
  });
}

/**
 * Plugin input convention: views[i] is the query embedding of view i and targets[i] the momentum key of
 * view i. Asymmetric (MoCo v2): loss(views[0], key of the other view), where the key is targets[1], or
 * targets[0] when the framework computed only the one key it needs. Symmetric (MoCo v3, GenView's
 * MoCo v3 variant): loss(q1, k2) + loss(q2, k1), summed rather than averaged, as upstream does.
 */
function computeMoco(inputs: LossInputs, temperature: number, symmetric: boolean): Scalar {
  const { views, targets, queue } = inputs;
  if (!queue) throw missing('queue', 'the negatives queue laid out [Q, D]', WHERE, 'use a framework that keeps a MoCo queue, or a loss without one (nt-xent).');
  if (!targets || targets.length === 0) {
    throw missing('targets', 'momentum-encoder keys, one [N, D] tensor per view', WHERE, 'pass the key encoder outputs as inputs.targets.');
  }
  if (!views || views.length === 0) throw missing('views', 'query embeddings, one [N, D] tensor per view', WHERE);
  const options = { temperature, weights: inputs.weights, queueNegativeMask: inputs.queueNegativeMask };
  if (!symmetric) {
    const key = targets.length === 1 ? targets[0] : targets[1];
    return infoNceQueue(views[0], key, queue, options);
  }
  if (views.length !== 2 || targets.length !== 2) {
    throw new GenviewError(
      'BAD_INPUT',
      `symmetric moco-queue needs exactly 2 views and 2 targets, got ${views.length} view(s) and ${targets.length} target(s).`,
      { where: WHERE, fix: 'pass both views and both keys, or set symmetric: false.' },
    );
  }
  return tf.tidy(() => tf.add(infoNceQueue(views[0], targets[1], queue, options), infoNceQueue(views[1], targets[0], queue, options)) as Scalar);
}

export const mocoQueuePlugin = definePlugin({
  kind: 'loss',
  name: 'moco-queue',
  package: '@genview/losses',
  description:
    'MoCo InfoNCE against a queue of momentum keys: [q·k, q·queue]/t, label 0; keys and queue carry no gradient. symmetric: loss(q1,k2)+loss(q2,k1).',
  configSchema: z
    .object({
      temperature: z.number().positive().default(0.2),
      /** MoCo v2 uses one direction; MoCo v3 and GenView's setup sum both. */
      symmetric: z.boolean().default(false),
    })
    .strict(),
  create: (config) => ({
    name: 'moco-queue',
    requires: ['targets', 'queue'],
    // Negatives are the queue, already holding keys from every process (the framework enqueues
    // all-gathered keys), so the loss itself is per-process.
    crossProcess: { kind: 'local' },
    compute: (inputs) => computeMoco(inputs, config.temperature, config.symmetric),
  }),
});
