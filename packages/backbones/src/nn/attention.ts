import { GenviewError, type Rng, type Tensor3D, tf } from '@genview/core';
import { type Linear, linear } from './linear';
import type { ParamStore } from './params';

export interface AttentionOptions {
  dim: number;
  heads: number;
  /** Bias on the query/key/value projection; timm's ViTs have it. Default true. */
  qkvBias?: boolean;
}

export interface MultiHeadSelfAttention {
  readonly qkv: Linear;
  readonly proj: Linear;
  /** [N, T, D] → [N, T, D]. */
  apply(x: Tensor3D): Tensor3D;
}

/** Multi-head self-attention with one fused qkv projection (timm's names: qkv, proj). */
export function multiHeadSelfAttention(store: ParamStore, name: string, options: AttentionOptions, rng: Rng): MultiHeadSelfAttention {
  const { dim, heads } = options;
  if (dim % heads !== 0) {
    throw new GenviewError('INVALID_CONFIG', `attention dim ${dim} is not divisible by ${heads} heads.`, {
      where: store.qualify(name),
      fix: 'choose a head count that divides the embedding dim.',
    });
  }
  const headDim = dim / heads;
  const scale = 1 / Math.sqrt(headDim);
  const layer = store.child(name);
  const qkv = linear(layer, 'qkv', { inDim: dim, outDim: 3 * dim, bias: options.qkvBias ?? true, init: 'trunc-normal' }, rng);
  const proj = linear(layer, 'proj', { inDim: dim, outDim: dim, init: 'trunc-normal' }, rng);
  return {
    qkv,
    proj,
    apply(x: Tensor3D): Tensor3D {
      return tf.tidy(() => {
        const [n, t] = x.shape;
        // [N, T, 3D] → three [N, H, T, hd] tensors.
        const toHeads = (part: tf.Tensor) => tf.transpose(tf.reshape(part, [n, t, heads, headDim]), [0, 2, 1, 3]) as tf.Tensor4D;
        const [q, k, v] = tf.split(qkv.apply(x), 3, 2).map(toHeads);
        const attn = tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale));
        const out = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [n, t, dim]) as Tensor3D;
        return proj.apply(out);
      });
    },
  };
}
