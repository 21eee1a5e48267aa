import { type Rng, type Tensor, type Variable, tf } from '@genview/core';
import { constantInit, truncNormalInit, uniformInit } from './init';
import type { ParamStore } from './params';

export interface LinearOptions {
  inDim: number;
  outDim: number;
  /** Default true. */
  bias?: boolean;
  /**
   * 'torch-default': U(±1/sqrt(inDim)) for weight and bias (PyTorch nn.Linear; MLP heads).
   * 'trunc-normal': truncated N(0, 0.02²) weight, zero bias (timm / DINO ViT).
   */
  init?: 'torch-default' | 'trunc-normal';
}

export interface Linear {
  /** [inDim, outDim]: x @ W, the transpose of PyTorch's [out, in] layout. */
  readonly weight: Variable;
  readonly bias?: Variable;
  readonly inDim: number;
  readonly outDim: number;
  /** Acts on the last axis of an input of any rank ≥ 2. */
  apply<T extends Tensor>(x: T): T;
}

export function linear(store: ParamStore, name: string, options: LinearOptions, rng: Rng): Linear {
  const { inDim, outDim } = options;
  const init = options.init ?? 'torch-default';
  const layer = store.child(name);
  const bound = 1 / Math.sqrt(inDim);
  const weight = layer.add(
    'weight',
    [inDim, outDim],
    () => init === 'trunc-normal' ? truncNormalInit(rng, inDim * outDim, 0.02) : uniformInit(rng, inDim * outDim, bound),
  );
  const bias =
    (options.bias ?? true)
      ? layer.add('bias', [outDim], () => (init === 'trunc-normal' ? constantInit(outDim, 0) : uniformInit(rng, outDim, bound)), { decay: false })
      : undefined;
  return {
    weight,
    bias,
    inDim,
    outDim,
    apply<T extends Tensor>(x: T): T {
      return tf.tidy(() => {
        const flat = x.rank === 2 ? (x as unknown as tf.Tensor2D) : tf.reshape(x, [-1, inDim]) as tf.Tensor2D;
        let y: tf.Tensor = tf.matMul(flat, weight as unknown as tf.Tensor2D);
        if (bias) y = tf.add(y, bias);
        return (x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), outDim])) as T;
      });
    },
  };
}
