import { GenviewError, type ShapeCheck, type Tensor, type Tensor1D, type Tensor2D, tf } from '@genview/core';

/**
 * Shared pieces of the losses. Kept internal: the public surface is the loss functions and plugins.
 */

/** Logit given to excluded entries: exp() of it underflows to exactly 0 in float32, and it stays finite so 0·it is 0. */
export const MASKED_LOGIT = -1e9;

// l2Normalize and stopGradient come from core so every package detaches and normalises alike.
import { l2Normalize } from '@genview/core';
export { l2Normalize, stopGradient } from '@genview/core';

/**
 * Per-row log-sum-exp minus the positive logit, with excluded entries pushed to MASKED_LOGIT.
 * `allowed` is true (boolean) or 1 (float) where an entry stays in the softmax denominator.
 *
 * The mask is added as a constant bias rather than selected with tf.where, and the log-sum-exp has
 * its gradient written out (the softmax): both give the same forward values bit for bit (a logit plus
 * -1e9 rounds to -1e9 in float32), but the backward pass then skips a select over the [rows, cols]
 * logits and the gradient of the row maximum that keeps exp() in range (an equality mask and a
 * broadcast multiply, which add up to zero): about a tenth of a small-CNN SimCLR step on the CPU.
 */
export function maskedCrossEntropy(logits: Tensor2D, allowed: Tensor | null, positive: Tensor1D): Tensor1D {
  return tf.tidy(() => {
    let kept: Tensor2D = logits;
    if (allowed) {
      const keep = allowed.dtype === 'bool' ? tf.cast(allowed, 'float32') : allowed;
      kept = tf.add(logits, tf.mul(tf.sub(1, keep), MASKED_LOGIT)) as Tensor2D;
    }
    return tf.sub(logSumExpRows(kept), positive) as Tensor1D;
  });
}

/** tf.logSumExp over axis 1 (the same operations in the same order), with d/dx = softmax(x) rows. */
const logSumExpRows = tf.customGrad(((x: Tensor, save: tf.GradSaveFunc) => {
  const shift = tf.max(x, 1, true);
  const lse = tf.add(tf.reshape(shift, [-1]), tf.log(tf.sum(tf.exp(tf.sub(x, shift)), 1)));
  save([x, lse]);
  return {
    value: lse,
    gradFunc: (dy: Tensor, [saved, value]: Tensor[]) => {
      const column = (t: Tensor) => tf.reshape(t, [-1, 1]);
      return tf.mul(column(dy), tf.exp(tf.sub(saved, column(value))));
    },
  };
  // tfjs types the inputs and the save function as one rest parameter.
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: Tensor2D) => Tensor1D;

/** Mean of per-anchor losses, each multiplied by its pair weight when weights are given. */
export function weightedMean(perAnchor: Tensor1D, weights: Tensor1D | undefined): tf.Scalar {
  return tf.tidy(() => (weights ? tf.mean(tf.mul(perAnchor, weights)) : tf.mean(perAnchor)) as tf.Scalar);
}

export function requirePositive(value: number, label: string, where: string): void {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new GenviewError('BAD_INPUT', `${label} must be a positive number, got ${value}.`, { where });
  }
}

/** Checks optional per-pair weights against the batch size bound to `N` in `check`. */
export function checkWeights(check: ShapeCheck, weights: Tensor1D | undefined, label = 'weights'): void {
  if (weights) check.check(weights, label, ['N']);
}

/** A required input is absent: say which field and what it must hold. */
export function missing(field: string, expected: string, where: string, fix?: string): GenviewError {
  return new GenviewError('BAD_INPUT', `${field} is missing; expected ${expected}.`, { where, fix });
}

/** Demands exactly `count` tensors in a list field. */
export function requireList(
  list: readonly Tensor2D[] | undefined,
  field: string,
  count: number,
  where: string,
  fix?: string,
): Tensor2D[] {
  if (!list) throw missing(field, `${count} tensor(s) laid out [N, D]`, where, fix);
  if (list.length !== count) {
    throw new GenviewError('BAD_INPUT', `${field} must hold exactly ${count} tensor(s) laid out [N, D], got ${list.length}.`, { where, fix });
  }
  return [...list];
}

/** Mean cosine of matching rows, read back as a number (for metrics, outside any tape). */
export function meanRowCosine(a: Tensor2D, b: Tensor2D): number {
  const value = tf.tidy(() => tf.mean(tf.sum(tf.mul(l2Normalize(a), l2Normalize(b)), 1)));
  const out = value.dataSync()[0];
  value.dispose();
  return out;
}
