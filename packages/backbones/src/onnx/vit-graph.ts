import { GenviewError } from '@genview/core';
import { VIT_VARIANTS } from '../models/vit';
import { type GraphBuilder, float, int, ints } from './graph-builder';
import { type TorchState, weight } from './torch-state';

/** timm's ViT layer norms use epsilon 1e-6 (nn/layer-norm's default). */
const LAYER_NORM_EPS = 1e-6;

/** A PyTorch [out, in] linear weight as the [in, out] right operand of MatMul. */
function matMulWeight(state: TorchState, key: string): { data: Float32Array; shape: number[] } {
  const { data, shape } = weight(state, key);
  const [rows, cols] = shape;
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return { data: out, shape: [cols, rows] };
}

function linear(g: GraphBuilder, state: TorchState, x: string, name: string): string {
  const w = matMulWeight(state, `${name}.weight`);
  const bias = weight(state, `${name}.bias`);
  return g.op('Add', [g.op('MatMul', [x, g.constant(`${name}.weight`, w.data, w.shape)]), g.constant(`${name}.bias`, bias.data, bias.shape)], {}, name);
}

function layerNorm(g: GraphBuilder, state: TorchState, x: string, name: string): string {
  const w = weight(state, `${name}.weight`);
  const b = weight(state, `${name}.bias`);
  return g.op('LayerNormalization', [x, g.constant(`${name}.weight`, w.data, w.shape), g.constant(`${name}.bias`, b.data, b.shape)], { axis: int(-1), epsilon: float(LAYER_NORM_EPS) }, name);
}

/** Exact GELU, x·½(1 + erf(x/√2)), as nn/activations (opset 17 has no Gelu op). */
function gelu(g: GraphBuilder, x: string): string {
  const erf = g.op('Erf', [g.op('Mul', [x, g.scalar('sqrt_half', Math.SQRT1_2)])]);
  return g.op('Mul', [g.op('Mul', [x, g.op('Add', [erf, g.scalar('one', 1)])]), g.scalar('half', 0.5)], {}, 'gelu');
}

function attention(g: GraphBuilder, state: TorchState, x: string, name: string, dim: number, heads: number): string {
  const headDim = dim / heads;
  // [N, T, 3D] → [N, T, 3, H, hd] → [3, N, H, T, hd], then q, k, v by index: our split of qkv into thirds.
  const qkv = g.op('Transpose', [g.op('Reshape', [linear(g, state, x, `${name}.qkv`), g.int64s('qkv_shape', [0, 0, 3, heads, headDim])])], { perm: ints([2, 0, 3, 1, 4]) });
  const [q, k, v] = [0, 1, 2].map((i) => g.op('Gather', [qkv, g.int64Scalar(`qkv_index_${i}`, i)], { axis: int(0) }, `${name}.${'qkv'[i]}`));
  const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: ints([0, 1, 3, 2]) })]), g.scalar('attention_scale', 1 / Math.sqrt(headDim))]);
  const mixed = g.op('MatMul', [g.op('Softmax', [scores], { axis: int(-1) }), v]);
  const merged = g.op('Reshape', [g.op('Transpose', [mixed], { perm: ints([0, 2, 1, 3]) }), g.int64s('merge_shape', [0, 0, dim])]);
  return linear(g, state, merged, `${name}.proj`);
}

/**
 * models/vit: patch embedding (a strided conv), class token, learned position embedding, pre-norm blocks
 * (multi-head self-attention, GELU MLP), final layer norm; the feature is the normed class token. Heads
 * come from the standard variant with this width (VIT_VARIANTS). Returns [N, D].
 */
export function vitGraph(g: GraphBuilder, state: TorchState, pixels: string): string {
  const patch = weight(state, 'patch_embed.proj.weight');
  const [dim, , p] = patch.shape;
  const variant = Object.values(VIT_VARIANTS).find((v) => v.dim === dim);
  if (!variant) {
    throw new GenviewError('INVALID_CONFIG', `no standard ViT has width ${dim}, so the ONNX export cannot tell its head count.`, {
      where: 'onnx export',
      fix: `export a ViT of a standard width (${Object.entries(VIT_VARIANTS).map(([k, v]) => `${k}: ${v.dim}`).join(', ')}), or use --format safetensors.`,
    });
  }
  const bias = weight(state, 'patch_embed.proj.bias');
  const embedded = g.op(
    'Conv',
    [pixels, g.constant('patch_embed.proj.weight', patch.data, patch.shape), g.constant('patch_embed.proj.bias', bias.data, bias.shape)],
    { kernel_shape: ints([p, p]), strides: ints([p, p]), pads: ints([0, 0, 0, 0]) },
    'patch_embed',
  );
  const patches = g.op('Transpose', [g.op('Reshape', [embedded, g.int64s('patch_shape', [0, dim, -1])])], { perm: ints([0, 2, 1]) }, 'patches');
  // The class token repeated over the batch: Expand to [N, 1, D], N read from the input's shape.
  const batch = g.op('Slice', [g.op('Shape', [pixels]), g.int64s('zero', [0]), g.int64s('one', [1])], {}, 'batch');
  const clsShape = g.op('Concat', [batch, g.int64s('cls_tail', [1, dim])], { axis: int(0) }, 'cls_shape');
  const cls = weight(state, 'cls_token');
  const clsTokens = g.op('Expand', [g.constant('cls_token', cls.data, cls.shape), clsShape], {}, 'cls_tokens');
  const pos = weight(state, 'pos_embed');
  let h = g.op('Add', [g.op('Concat', [clsTokens, patches], { axis: int(1) }), g.constant('pos_embed', pos.data, pos.shape)], {}, 'tokens');
  for (let i = 0; state[`blocks.${i}.norm1.weight`] !== undefined; i++) {
    const b = `blocks.${i}`;
    h = g.op('Add', [h, attention(g, state, layerNorm(g, state, h, `${b}.norm1`), `${b}.attn`, dim, variant.heads)], {}, `${b}.attn_out`);
    const mlp = linear(g, state, gelu(g, linear(g, state, layerNorm(g, state, h, `${b}.norm2`), `${b}.mlp.fc1`)), `${b}.mlp.fc2`);
    h = g.op('Add', [h, mlp], {}, `${b}.out`);
  }
  return g.op('Gather', [layerNorm(g, state, h, 'norm'), g.int64Scalar('cls_index', 0)], { axis: int(1) }, 'cls');
}
