import { type Tensor, type Variable, tf } from '@genview/core';
import { constantInit } from './init';
import type { ParamStore } from './params';

export interface LayerNorm {
  readonly weight: Variable;
  readonly bias: Variable;
  apply<T extends Tensor>(x: T): T;
}

/** Layer normalisation over the last axis; eps 1e-6 by default, as timm's ViT. */
export function layerNorm(store: ParamStore, name: string, dim: number, eps = 1e-6): LayerNorm {
  const layer = store.child(name);
  const weight = layer.add('weight', [dim], constantInit(dim, 1), { decay: false });
  const bias = layer.add('bias', [dim], constantInit(dim, 0), { decay: false });
  return {
    weight,
    bias,
    apply<T extends Tensor>(x: T): T {
      return tf.tidy(() => {
        const { mean, variance } = tf.moments(x, -1, true);
        const normalised = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
        return tf.add(tf.mul(normalised, weight), bias) as T;
      });
    },
  };
}
