import { type Backbone, type ForwardMode, GenviewError, type Rng, type Tensor, type Tensor2D, type Tensor3D, tf } from '@genview/core';
import { gelu } from '../nn/activations';
import { type MultiHeadSelfAttention, causalMask, multiHeadSelfAttention } from '../nn/attention';
import { normalInit } from '../nn/init';
import { type LayerNorm, layerNorm } from '../nn/layer-norm';
import { type Linear, linear } from '../nn/linear';
import { ParamStore } from '../nn/params';
import { moduleState } from './common';
import { checkTokenIds } from './token-ids';

export interface TextTransformerOptions {
  /** Size of the tokenizer's vocabulary; ids must lie in [0, vocabSize). */
  vocabSize: number;
  /** Tokens per row (the tokenizer pads or cuts to it); default 77, as CLIP. */
  contextLength?: number;
  /** The end-of-text id the features are pooled at. */
  eosTokenId: number;
  /** Default 128. */
  width?: number;
  /** Number of blocks; default 3. */
  layers?: number;
  /** Default 4; must divide width. */
  heads?: number;
  /** MLP hidden size over width; default 4. */
  mlpRatio?: number;
  rng: Rng;
  /** False skips the random init (weights start at zero) for a network whose weights are loaded next. Default true. */
  initialize?: boolean;
  /** Module name; default 'text-transformer'. */
  name?: string;
}

export interface TextTransformer extends Backbone {
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly eosTokenId: number;
  readonly width: number;
  /** Every position after the final norm: [N, L] int32 ids → [N, L, width]. */
  tokens(ids: Tensor2D, mode: ForwardMode): Tensor3D;
  /** The position each row is pooled at: its first eosTokenId, or the last position when it has none. */
  poolPositions(ids: Tensor2D): Int32Array;
  /** [N, L] int32 ids → [N, width]: the normed feature at each row's pool position. */
  apply(ids: Tensor, mode: ForwardMode): Tensor2D;
}

interface TextBlock {
  norm1: LayerNorm;
  attn: MultiHeadSelfAttention;
  norm2: LayerNorm;
  fc1: Linear;
  fc2: Linear;
}

/** First eos per row, else the last position: which token has read the whole caption under a causal mask. */
export function firstEosPositions(ids: Int32Array, rows: number, length: number, eosTokenId: number): Int32Array {
  const out = new Int32Array(rows).fill(length - 1);
  for (let r = 0; r < rows; r++) {
    const at = ids.subarray(r * length, (r + 1) * length).indexOf(eosTokenId);
    if (at >= 0) out[r] = at;
  }
  return out;
}

/**
 * CLIP's text tower (Radford et al. 2021): token embedding + learned position embedding, pre-norm
 * blocks (x + attn(norm1(x)) under a causal mask, x + mlp(norm2(x)), exact GELU), a final LayerNorm
 * (eps 1e-5, PyTorch's default as in CLIP), and the feature of the end-of-text token as the sentence
 * feature. CLIP finds that token with argmax(ids) because its eot id is the largest; pooling at the
 * first eosTokenId works for any tokenizer. The causal mask means that position has seen every token
 * before it and nothing after it, so padding never changes the feature. There is no text projection
 * here: a framework adds its own head into the joint space.
 *
 * Names: token_embedding.weight [vocab, width], positional_embedding [context, width],
 * blocks.{i}.norm1 / attn.qkv / attn.proj / norm2 / mlp.fc1 / mlp.fc2 (as the ViT here), ln_final.
 * Init: token embedding N(0, 0.02²) and position embedding N(0, 0.01²) as CLIP; linear layers truncated
 * N(0, 0.02²) as the ViT.
 */
export function createTextTransformer(options: TextTransformerOptions): TextTransformer {
  const { vocabSize, eosTokenId, rng } = options;
  const name = options.name ?? 'text-transformer';
  const contextLength = options.contextLength ?? 77;
  const width = options.width ?? 128;
  const depth = options.layers ?? 3;
  const heads = options.heads ?? 4;
  const mlpRatio = options.mlpRatio ?? 4;
  for (const [label, v] of [['vocabSize', vocabSize], ['contextLength', contextLength], ['width', width], ['layers', depth], ['heads', heads]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new GenviewError('INVALID_CONFIG', `${label} must be a positive integer, got ${v}.`, { where: name });
  }
  if (!Number.isInteger(eosTokenId) || eosTokenId < 0 || eosTokenId >= vocabSize) {
    throw new GenviewError('INVALID_CONFIG', `eosTokenId ${eosTokenId} is not an id of a vocabulary of ${vocabSize}.`, {
      where: name,
      fix: "take vocabSize and eosTokenId from the tokenizer (Tokenizer.vocabSize, Tokenizer.eosTokenId).",
    });
  }
  const hidden = Math.round(width * mlpRatio);
  if (!(hidden >= 1)) throw new GenviewError('INVALID_CONFIG', `mlpRatio ${mlpRatio} gives an MLP of ${hidden} units.`, { where: name });

  const store = ParamStore.root({ initialize: options.initialize });
  const tokenEmbedding = store.child('token_embedding').add('weight', [vocabSize, width], () => normalInit(rng, vocabSize * width, 0.02), { decay: false });
  const positional = store.add('positional_embedding', [contextLength, width], () => normalInit(rng, contextLength * width, 0.01), { decay: false });
  const blocks: TextBlock[] = [];
  for (let i = 0; i < depth; i++) {
    const b = store.child(`blocks.${i}`);
    blocks.push({
      norm1: layerNorm(b, 'norm1', width, 1e-5),
      attn: multiHeadSelfAttention(b, 'attn', { dim: width, heads }, rng),
      norm2: layerNorm(b, 'norm2', width, 1e-5),
      fc1: linear(b.child('mlp'), 'fc1', { inDim: width, outDim: hidden, init: 'trunc-normal' }, rng),
      fc2: linear(b.child('mlp'), 'fc2', { inDim: hidden, outDim: width, init: 'trunc-normal' }, rng),
    });
  }
  const lnFinal = layerNorm(store, 'ln_final', width, 1e-5);
  const state = moduleState(store, name);

  // Mode is accepted for the Module contract; without dropout the tower acts the same in both.
  const forward = (ids: Tensor2D): Tensor3D =>
    tf.tidy(() => {
      const mask = causalMask(contextLength);
      let h = tf.add(tf.gather(tokenEmbedding, ids), positional) as Tensor3D;
      for (const blk of blocks) {
        h = tf.add(h, blk.attn.apply(blk.norm1.apply(h), mask));
        h = tf.add(h, blk.fc2.apply(gelu(blk.fc1.apply(blk.norm2.apply(h)))));
      }
      return lnFinal.apply(h);
    });

  const checked = (ids: Tensor): { ids: Tensor2D; values: Int32Array } => {
    state.assertAlive();
    return { ids: ids as Tensor2D, values: checkTokenIds(ids, name, vocabSize, contextLength) };
  };

  return {
    name,
    featureDim: width,
    vocabSize,
    contextLength,
    eosTokenId,
    width,
    variables: state.variables,
    dispose: state.dispose,
    tokens(ids: Tensor2D, _mode: ForwardMode): Tensor3D {
      return forward(checked(ids).ids);
    },
    poolPositions(ids: Tensor2D): Int32Array {
      const { values } = checked(ids);
      return firstEosPositions(values, ids.shape[0], contextLength, eosTokenId);
    },
    apply(x: Tensor, _mode: ForwardMode): Tensor2D {
      const { ids, values } = checked(x);
      const n = ids.shape[0];
      const positions = firstEosPositions(values, n, contextLength, eosTokenId);
      // Row r's pooled token sits at r·L + position in the flattened [N·L, width] tokens; gather's
      // gradient scatters back into exactly those rows.
      const flat = Int32Array.from(positions, (p, r) => r * contextLength + p);
      return tf.tidy(() => tf.gather(tf.reshape(forward(ids), [n * contextLength, width]), tf.tensor1d(flat, 'int32')) as Tensor2D);
    },
  };
}
