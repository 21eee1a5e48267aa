import { type Backbone, type ForwardMode, GenviewError, type Rng, type Tensor, type Tensor2D, type Tensor3D, type Tensor4D, tf } from '@genview/core';
import { gelu } from '../nn/activations';
import { type MultiHeadSelfAttention, multiHeadSelfAttention } from '../nn/attention';
import { conv2d } from '../nn/conv';
import { truncNormalInit } from '../nn/init';
import { type LayerNorm, layerNorm } from '../nn/layer-norm';
import { type Linear, linear } from '../nn/linear';
import { ParamStore } from '../nn/params';
import { checkImages, moduleState } from './common';

export type VitVariant = 'tiny' | 'small';

/** Embedding dim, depth and heads of the standard variants (DeiT / timm). */
export const VIT_VARIANTS: Record<VitVariant, { dim: number; depth: number; heads: number }> = {
  tiny: { dim: 192, depth: 12, heads: 3 },
  small: { dim: 384, depth: 12, heads: 6 },
};

export interface VitOptions {
  variant: VitVariant;
  /** Square input size in pixels; default 224. Inputs of another size are refused (the position embedding is learned per position). */
  imageSize?: number;
  /** Default 16; must divide imageSize. */
  patchSize?: number;
  /** Default 3. */
  inChannels?: number;
  /** Overrides the variant's depth (number of blocks). */
  depth?: number;
  rng: Rng;
  /** False skips the random init (weights start at zero) for a network whose weights are loaded next. Default true. */
  initialize?: boolean;
  /** Module name; default `vit-${variant}`. */
  name?: string;
}

export interface Vit extends Backbone {
  readonly gridSize: number;
  /** Patch tokens after the final norm, laid out as [N, grid, grid, dim]. */
  featureMap(x: Tensor4D, mode: ForwardMode): Tensor4D;
  /** All tokens after the final norm, class token first: [N, 1 + grid², dim]. */
  tokens(x: Tensor4D, mode: ForwardMode): Tensor3D;
}

interface VitBlock {
  norm1: LayerNorm;
  attn: MultiHeadSelfAttention;
  norm2: LayerNorm;
  fc1: Linear;
  fc2: Linear;
}

/**
 * Vision Transformer with a class token, learned position embedding and pre-norm blocks
 * (x + attn(norm1(x)), x + mlp(norm2(x)), MLP ratio 4, exact GELU), final LayerNorm; no dropout or
 * drop-path. The pooled feature is the normed class token (DINO / MoCo v3). Names follow timm:
 * patch_embed.proj.weight, cls_token, pos_embed, blocks.{i}.attn.qkv.weight, blocks.{i}.mlp.fc1.weight, norm.weight.
 * Init: truncated N(0, 0.02²) for linear weights, class token and position embedding; zero biases.
 */
export function createVit(options: VitOptions): Vit {
  const { variant, rng } = options;
  const spec = VIT_VARIANTS[variant];
  const name = options.name ?? `vit-${variant}`;
  if (spec === undefined) {
    throw new GenviewError('INVALID_CONFIG', `unknown ViT variant "${variant}".`, { where: name, fix: 'use "tiny" or "small".' });
  }
  const imageSize = options.imageSize ?? 224;
  const patchSize = options.patchSize ?? 16;
  const inChannels = options.inChannels ?? 3;
  const depth = options.depth ?? spec.depth;
  const { dim, heads } = spec;
  if (!Number.isInteger(imageSize) || !Number.isInteger(patchSize) || patchSize < 1 || imageSize % patchSize !== 0) {
    throw new GenviewError('INVALID_CONFIG', `ViT patchSize ${patchSize} must divide imageSize ${imageSize}.`, {
      where: name,
      fix: 'pick a patch size that divides the image size (e.g. 4 or 7 for 28x28, 4 or 8 for 32x32).',
    });
  }
  if (!Number.isInteger(depth) || depth < 1) {
    throw new GenviewError('INVALID_CONFIG', `ViT depth must be a positive integer, got ${depth}.`, { where: name });
  }
  const grid = imageSize / patchSize;
  const numTokens = grid * grid + 1;

  const store = ParamStore.root({ initialize: options.initialize });
  const patchEmbed = conv2d(
    store.child('patch_embed'),
    'proj',
    { inChannels, outChannels: dim, kernelSize: patchSize, stride: patchSize, padding: 0, bias: true, init: 'torch-default' },
    rng,
  );
  const clsToken = store.add('cls_token', [1, 1, dim], () => truncNormalInit(rng, dim, 0.02), { decay: false });
  const posEmbed = store.add('pos_embed', [1, numTokens, dim], () => truncNormalInit(rng, numTokens * dim, 0.02), { decay: false });
  const blocks: VitBlock[] = [];
  for (let i = 0; i < depth; i++) {
    const b = store.child(`blocks.${i}`);
    blocks.push({
      norm1: layerNorm(b, 'norm1', dim),
      attn: multiHeadSelfAttention(b, 'attn', { dim, heads }, rng),
      norm2: layerNorm(b, 'norm2', dim),
      fc1: linear(b.child('mlp'), 'fc1', { inDim: dim, outDim: 4 * dim, init: 'trunc-normal' }, rng),
      fc2: linear(b.child('mlp'), 'fc2', { inDim: 4 * dim, outDim: dim, init: 'trunc-normal' }, rng),
    });
  }
  const norm = layerNorm(store, 'norm', dim);
  const state = moduleState(store, name);

  // Mode is accepted for the Module contract; without dropout or batch norm a ViT acts the same in both.
  const tokens = (x: Tensor4D, _mode: ForwardMode): Tensor3D => {
    state.assertAlive();
    checkImages(x, name, inChannels, imageSize);
    return tf.tidy(() => {
      const n = x.shape[0];
      const patches = tf.reshape(patchEmbed.apply(x), [n, grid * grid, dim]);
      const cls = tf.tile(clsToken, [n, 1, 1]);
      let h = tf.add(tf.concat([cls, patches], 1), posEmbed) as Tensor3D;
      for (const blk of blocks) {
        h = tf.add(h, blk.attn.apply(blk.norm1.apply(h)));
        h = tf.add(h, blk.fc2.apply(gelu(blk.fc1.apply(blk.norm2.apply(h)))));
      }
      return norm.apply(h);
    });
  };

  return {
    name,
    featureDim: dim,
    gridSize: grid,
    variables: state.variables,
    dispose: state.dispose,
    tokens,
    featureMap(x: Tensor4D, mode: ForwardMode): Tensor4D {
      return tf.tidy(() => {
        const all = tokens(x, mode);
        return tf.reshape(tf.slice(all, [0, 1, 0], [-1, -1, -1]), [x.shape[0], grid, grid, dim]);
      });
    },
    apply(x: Tensor, mode: ForwardMode): Tensor2D {
      return tf.tidy(() => tf.reshape(tf.slice(tokens(x as Tensor4D, mode), [0, 0, 0], [-1, 1, -1]), [-1, dim]) as Tensor2D);
    },
  };
}
