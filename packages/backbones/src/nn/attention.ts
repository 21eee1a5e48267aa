import { GenviewError, type Rng, type Tensor, type Tensor2D, type Tensor3D, tf } from '@genview/core';
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
  /**
   * [N, T, D] → [N, T, D]. `mask` is added to the attention logits before the softmax and must
   * broadcast to [N, heads, T, T] (e.g. `causalMask(T)`, [T, T]); without it every token sees every token.
   */
  apply(x: Tensor3D, mask?: Tensor): Tensor3D;
}

/**
 * What a masked-out attention logit gets added. Finite rather than −Infinity: exp underflows to exactly 0
 * either way, but a row masked out entirely (or 0 · mask anywhere) stays finite instead of NaN.
 */
export const MASKED_ATTENTION_LOGIT = -1e9;

/** Additive [T, T] mask letting token i attend to tokens 0..i only (GPT / CLIP text towers). The caller disposes it. */
export function causalMask(t: number): Tensor2D {
  const values = new Float32Array(t * t);
  for (let i = 0; i < t; i++) values.fill(MASKED_ATTENTION_LOGIT, i * t + i + 1, (i + 1) * t);
  return tf.tensor2d(values, [t, t]);
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
    apply(x: Tensor3D, mask?: Tensor): Tensor3D {
      return tf.tidy(() => {
        const [n, t] = x.shape;
        // [N, T, 3D] → three [N, H, T, hd] tensors.
        const toHeads = (part: tf.Tensor) => tf.transpose(tf.reshape(part, [n, t, heads, headDim]), [0, 2, 1, 3]) as tf.Tensor4D;
        const [q, k, v] = tf.split(qkv.apply(x), 3, 2).map(toHeads);
        const scores = tf.mul(tf.matMul(q, k, false, true), scale);
        const attn = tf.softmax(mask ? tf.add(scores, mask) : scores);
        const out = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [n, t, dim]) as Tensor3D;
        return proj.apply(out);
      });
    },
  };
}
