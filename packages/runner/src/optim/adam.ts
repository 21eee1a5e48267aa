import { type ModuleVariable, type Tensor, tf } from '@genview/core';
import type { AdamConfig, AdamwConfig } from './config';
import { SlotOptimizer } from './base';

/**
 * Adam and AdamW with PyTorch's formulas (amsgrad off):
 *   adam:  g ← g + wd·w (L2 in the gradient);   adamw: w ← w·(1 − lr·wd) (decoupled decay)
 *   m ← lerp(m, g, 1 − β1);  v ← β2·v + (1 − β2)·g²;  t ← t + 1
 *   w ← w − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
 * Variables with decay=false get no decay of either kind. The step count t is kept per variable,
 * as PyTorch does, so a variable that missed some gradients keeps its own bias correction.
 */
export class AdamOptimizer extends SlotOptimizer {
  /** JS mirror of the per-variable "step" slots, so bias corrections need no read-back each step. */
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly config: AdamConfig | AdamwConfig,
    variables: ModuleVariable[],
  ) {
    super(config.name, variables);
    for (const v of this.trainable) {
      this.addSlot('exp_avg', v);
      this.addSlot('exp_avg_sq', v);
      this.addSlot('step', v, () => tf.scalar(0, 'int32'));
      this.counts.set(v.name, 0);
    }
  }

  protected update(v: ModuleVariable, grad: Tensor, lr: number): void {
    const { beta1, beta2, eps } = this.config;
    const wd = v.decay ? this.config.weightDecay : 0;
    const decoupled = this.config.name === 'adamw';
    const w = v.variable;
    const g = !decoupled && wd > 0 ? tf.add(grad, tf.mul(w, wd)) : grad;

    const t = (this.counts.get(v.name) ?? 0) + 1;
    this.counts.set(v.name, t);
    this.slot('step', v).assign(tf.scalar(t, 'int32'));

    const m = this.slot('exp_avg', v);
    const s = this.slot('exp_avg_sq', v);
    const mNext = lerp(m, g, 1 - beta1);
    const sNext = tf.add(tf.mul(s, beta2), tf.mul(tf.mul(g, g), 1 - beta2));
    m.assign(mNext);
    s.assign(sNext);

    const stepSize = lr / (1 - beta1 ** t);
    const denom = tf.add(tf.div(tf.sqrt(sNext), Math.sqrt(1 - beta2 ** t)), eps);
    const base = decoupled && wd > 0 ? tf.mul(w, 1 - lr * wd) : w;
    w.assign(tf.sub(base, tf.mul(tf.div(mNext, denom), stepSize)));
  }

  protected override afterRestore(): void {
    for (const v of this.trainable) this.counts.set(v.name, this.slot('step', v).dataSync()[0]);
  }
}

/** torch.lerp's two forms (it picks by weight to keep rounding small); mirrored to track PyTorch closely. */
function lerp(start: Tensor, end: Tensor, weight: number): Tensor {
  const diff = tf.sub(end, start);
  return Math.abs(weight) < 0.5 ? tf.add(start, tf.mul(diff, weight)) : tf.sub(end, tf.mul(diff, 1 - weight));
}
