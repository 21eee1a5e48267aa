import { type ModuleVariable, type Tensor, tf } from '@genview/core';
import { l2Norm } from './norm';
import type { LarsConfig } from './config';
import { SgdOptimizer } from './sgd';

/**
 * LARS as solo-learn (and Lightning Bolts) implement it: SGD with momentum whose per-variable
 * direction is rescaled by a layer-wise trust ratio,
 *   trust = η·‖w‖ / (‖g‖ + wd·‖w‖ + ε)          (clipLr: trust ← min(trust / lr, 1))
 *   d = trust·(g + wd·w)   when ‖w‖ > 0 and ‖g‖ > 0, else d = g (no decay either, as there),
 * then buf = μ·buf + d, w ← w − lr·buf. With excludeFromAdaptation, variables with decay=false
 * (biases, norm parameters) use d = g: no decay and no trust ratio, as SimCLR and BYOL do.
 */
export class LarsOptimizer extends SgdOptimizer {
  constructor(
    private readonly lars: LarsConfig,
    variables: ModuleVariable[],
  ) {
    super({ momentum: lars.momentum, nesterov: lars.nesterov, weightDecay: lars.weightDecay }, variables, 'lars');
  }

  protected override direction(v: ModuleVariable, grad: Tensor, lr: number): Tensor {
    if (!v.decay && this.lars.excludeFromAdaptation) return grad;
    const wd = v.decay ? this.lars.weightDecay : 0;
    const w = v.variable;
    const wNorm = l2Norm(w);
    const gNorm = l2Norm(grad);
    let trust = tf.mul(tf.div(wNorm, tf.add(tf.add(gNorm, tf.mul(wNorm, wd)), this.lars.eps)), this.lars.eta);
    if (this.lars.clipLr) trust = tf.minimum(tf.div(trust, lr), 1);
    // Decided on the device, so a step never waits for a read-back of the norms. The choice is made on
    // the scalars (trust 1 and no decay when not adapting), not by a full-size tf.where: a scalar
    // condition there is tiled to the variable's shape first, and that tile and select were most of
    // a LARS step's time on the CPU. Both ways give d = g exactly when not adapting (g + 0·w = g).
    const adapt = tf.logicalAnd(tf.greater(wNorm, 0), tf.greater(gNorm, 0));
    const factor = tf.where(adapt, trust, tf.onesLike(trust));
    if (wd === 0) return tf.mul(grad, factor);
    const decay = tf.where(adapt, tf.scalar(wd), tf.scalar(0));
    return tf.mul(tf.add(grad, tf.mul(w, decay)), factor);
  }
}
