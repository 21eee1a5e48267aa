import { type ModuleVariable, type Tensor, adamUpdate, tf } from '@genview/core';
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

    const t = (this.counts.get(v.name) ?? 0) + 1;
    this.counts.set(v.name, t);
    this.slot('step', v).assign(tf.scalar(t, 'int32'));

    const m = this.slot('exp_avg', v);
    const s = this.slot('exp_avg_sq', v);
    // One fused pass per variable where the backend has the kernel (the native rung), the same
    // formulas as composed tfjs ops elsewhere.
    const [wNext, mNext, sNext] = adamUpdate(
      { weights: v.variable, grad, expAvg: m, expAvgSq: s },
      {
        beta1,
        beta2,
        eps,
        stepSize: lr / (1 - beta1 ** t),
        sqrtBiasCorrection2: Math.sqrt(1 - beta2 ** t),
        l2: !decoupled && wd > 0 ? wd : 0,
        decayFactor: decoupled && wd > 0 ? 1 - lr * wd : 1,
      },
    );
    m.assign(mNext);
    s.assign(sNext);
    v.variable.assign(wNext);
  }

  protected override afterRestore(): void {
    for (const v of this.trainable) this.counts.set(v.name, this.slot('step', v).dataSync()[0]);
  }
}
