import { GenviewError, type Tensor, tf } from '@genview/core';
import { l2Norm } from './norm';

export interface ClippedGrads {
  /** New tensors the caller owns (dispose them); the input gradients are left as they were. */
  grads: Map<string, Tensor>;
  /** Global L2 norm of all gradients before clipping. */
  totalNorm: number;
}

/**
 * torch.nn.utils.clip_grad_norm_: the L2 norm over all gradients taken together, and every gradient
 * scaled by min(maxNorm / (norm + 1e-6), 1). Scaling by exactly 1 when under the limit leaves the
 * values unchanged, as in PyTorch. A NaN or infinite norm propagates into the gradients (as PyTorch
 * does without error_if_nonfinite), so the caller can see it in totalNorm and skip the step.
 */
export function clipGradNorm(grads: Map<string, Tensor>, maxNorm: number): ClippedGrads {
  if (!(maxNorm > 0)) {
    throw new GenviewError('BAD_INPUT', `clipGradNorm needs maxNorm > 0, got ${maxNorm}.`, {
      fix: 'set the gradient-clipping norm to a positive number, or turn clipping off.',
    });
  }
  if (grads.size === 0) return { grads: new Map(), totalNorm: 0 };
  const keys = [...grads.keys()];
  const { clipped, total } = tf.tidy(() => {
    // Per-tensor norms first, then the norm of those, as PyTorch computes it.
    const norms = [...grads.values()].map((g) => l2Norm(g));
    const totalNorm = l2Norm(tf.stack(norms));
    const coef = tf.minimum(tf.div(maxNorm, tf.add(totalNorm, 1e-6)), 1);
    return { clipped: [...grads.values()].map((g) => tf.mul(g, coef)), total: totalNorm };
  });
  const totalNorm = total.dataSync()[0];
  total.dispose();
  return { grads: new Map(keys.map((k, i) => [k, clipped[i]])), totalNorm };
}
