import * as tf from '@tensorflow/tfjs-core';
import { GenviewError } from './errors';

/**
 * Kernel a backend may register to run one Adam/AdamW step of one variable in a single pass over its
 * memory, instead of the thirteen full-size elementwise ops (each with its own output buffer) that the
 * composed form takes.
 * Inputs: w, g, m, v: float32 tensors of one shape (weights, gradient, first and second moments).
 * Attributes: the fields of AdamUpdateAttrs.
 * Outputs: [w', m', v'], computed in float32 exactly as adamUpdate's composed ops do (same operations,
 * same order, one rounding each), so a backend's kernel matches them bit for bit.
 */
export const ADAM_UPDATE_KERNEL = 'GenviewAdamUpdate';

export interface AdamUpdateAttrs {
  beta1: number;
  beta2: number;
  eps: number;
  /** lr / (1 − β1^t): the learning rate with the first moment's bias correction folded in. */
  stepSize: number;
  /** √(1 − β2^t): the second moment's bias correction. */
  sqrtBiasCorrection2: number;
  /** Coupled (L2) weight decay: l2·w is added to the gradient first; 0 for none (Adam). */
  l2: number;
  /** Decoupled weight decay: w is scaled by this before the step, 1 − lr·wd for AdamW; 1 for none. */
  decayFactor: number;
}

export interface AdamUpdateInputs {
  weights: tf.Tensor;
  grad: tf.Tensor;
  expAvg: tf.Tensor;
  expAvgSq: tf.Tensor;
}

function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) != null;
}

function check(inputs: AdamUpdateInputs): void {
  const shape = inputs.weights.shape;
  for (const [name, t] of Object.entries(inputs) as [keyof AdamUpdateInputs, tf.Tensor][]) {
    if (t.dtype !== 'float32') {
      throw new GenviewError('BAD_INPUT', `adamUpdate: ${name} must be float32, got ${t.dtype}.`, { fix: 'keep weights, gradients and Adam moments in float32.' });
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new GenviewError('BAD_SHAPE', `adamUpdate: ${name} has shape [${t.shape.join(', ')}], the weights [${shape.join(', ')}].`, {
        fix: 'pass a gradient and moments shaped like the variable they update.',
      });
    }
  }
}

/** torch.lerp's two forms (it picks by weight to keep rounding small), mirrored to track PyTorch closely. */
function lerp(start: tf.Tensor, end: tf.Tensor, weight: number): tf.Tensor {
  const diff = tf.sub(end, start);
  return Math.abs(weight) < 0.5 ? tf.add(start, tf.mul(diff, weight)) : tf.sub(end, tf.mul(diff, 1 - weight));
}

function composed({ weights: w, grad, expAvg: m, expAvgSq: s }: AdamUpdateInputs, a: AdamUpdateAttrs): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const g = a.l2 !== 0 ? tf.add(grad, tf.mul(w, a.l2)) : grad;
  const mNext = lerp(m, g, 1 - a.beta1);
  const sNext = tf.add(tf.mul(s, a.beta2), tf.mul(tf.mul(g, g), 1 - a.beta2));
  const denom = tf.add(tf.div(tf.sqrt(sNext), a.sqrtBiasCorrection2), a.eps);
  const base = a.decayFactor !== 1 ? tf.mul(w, a.decayFactor) : w;
  return [tf.sub(base, tf.mul(tf.div(mNext, denom), a.stepSize)), mNext, sNext];
}

/**
 * One Adam step with PyTorch's formulas (amsgrad off):
 *   g ← g + l2·w;  m ← lerp(m, g, 1 − β1);  v ← β2·v + (1 − β2)·g²
 *   w ← decayFactor·w − stepSize · m / (√v / sqrtBiasCorrection2 + ε)
 * Returns [w', m', v'] as new tensors (the caller assigns them). Runs ADAM_UPDATE_KERNEL where the
 * active backend registers it and the composed tfjs ops otherwise; both give the same bits.
 */
export function adamUpdate(inputs: AdamUpdateInputs, attrs: AdamUpdateAttrs): [tf.Tensor, tf.Tensor, tf.Tensor] {
  check(inputs);
  if (hasKernel(ADAM_UPDATE_KERNEL)) {
    const { weights: w, grad: g, expAvg: m, expAvgSq: v } = inputs;
    return tf.engine().runKernel(ADAM_UPDATE_KERNEL, { w, g, m, v }, { ...attrs }) as unknown as [tf.Tensor, tf.Tensor, tf.Tensor];
  }
  return composed(inputs, attrs);
}
