import { type ModuleVariable, type Tensor, tf } from '@genview/core';
import { SlotOptimizer } from './base';

export interface MomentumSettings {
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

/**
 * SGD with momentum, PyTorch's `torch.optim.SGD` (dampening 0):
 *   d = g + wd·w;  buf = μ·buf + d (buf = d on the first step);  u = nesterov ? d + μ·buf : buf;  w ← w − lr·u.
 * The buffer starts at zero, which gives exactly PyTorch's "buf = d on the first step" because μ·0 + d = d.
 */
export class SgdOptimizer extends SlotOptimizer {
  constructor(
    protected readonly settings: MomentumSettings,
    variables: ModuleVariable[],
    name = 'sgd',
  ) {
    super(name, variables);
    // Plain SGD (μ = 0) keeps no buffer, like PyTorch, so its state is empty.
    if (settings.momentum > 0) for (const v of this.trainable) this.addSlot('momentum_buffer', v);
  }

  /** The descent direction before momentum: the gradient plus the L2 term for decayed variables. */
  protected direction(v: ModuleVariable, grad: Tensor, _lr: number): Tensor {
    const wd = v.decay ? this.settings.weightDecay : 0;
    return wd > 0 ? tf.add(grad, tf.mul(v.variable, wd)) : grad;
  }

  protected update(v: ModuleVariable, grad: Tensor, lr: number): void {
    let d = this.direction(v, grad, lr);
    const mu = this.settings.momentum;
    if (mu > 0) {
      const buf = this.slot('momentum_buffer', v);
      const next = tf.add(tf.mul(buf, mu), d);
      buf.assign(next);
      d = this.settings.nesterov ? tf.add(d, tf.mul(next, mu)) : next;
    }
    v.variable.assign(tf.sub(v.variable, tf.mul(d, lr)));
  }
}
