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
 * `allowed` is boolean, true where an entry stays in the softmax denominator.
 */
export function maskedCrossEntropy(logits: Tensor2D, allowed: Tensor | null, positive: Tensor1D): Tensor1D {
  return tf.tidy(() => {
    const kept = allowed ? tf.where(allowed, logits, tf.fill(logits.shape, MASKED_LOGIT)) : logits;
    return tf.sub(tf.logSumExp(kept, 1), positive) as Tensor1D;
  });
}

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
