import { GenviewError, type Module, writeFileAtomic } from '@genview/core';
import { toTorchStateDict } from '../torch-weights';
import { GraphBuilder } from './graph-builder';
import { encodeOnnxModel } from './onnx-proto';
import { resnetGraph } from './resnet-graph';
import { smallCnnGraph } from './small-cnn-graph';
import { type TorchState, has, weight } from './torch-state';
import { vitGraph } from './vit-graph';

/** The ONNX opset written: the first with LayerNormalization, read by onnxruntime and onnx >= 1.12. */
export const ONNX_OPSET = 17;
export const ONNX_INPUT = 'pixels';
export const ONNX_OUTPUT = 'features';

export type OnnxArchitecture = 'resnet' | 'small-cnn' | 'vit';

export interface BackboneOnnx {
  bytes: Uint8Array;
  architecture: OnnxArchitecture;
  /** The `pixels` input: [batch, C, H, W]; H and W are "height"/"width" (any size) for the CNNs. */
  inputDims: Array<number | string>;
  featureDim: number | string;
}

function architectureOf(state: TorchState, name: string): OnnxArchitecture {
  if (has(state, 'patch_embed.proj.weight') && has(state, 'cls_token') && has(state, 'pos_embed')) return 'vit';
  if (has(state, 'conv1.weight') && has(state, 'layer1.0.conv1.weight')) return 'resnet';
  if (has(state, 'blocks.0.conv.weight') && has(state, 'blocks.0.bn.running_var')) return 'small-cnn';
  throw new GenviewError('INVALID_CONFIG', `the ONNX export knows the ResNet, small-cnn and ViT backbones, and ${name}'s variables (${Object.keys(state).slice(0, 4).join(', ')}, ...) are none of them.`, {
    where: 'onnx export',
    fix: 'export this backbone with --format safetensors (any backbone), or train one of resnet-18/34/50, small-cnn, vit-tiny, vit-small.',
  });
}

/**
 * A backbone as an ONNX model (opset 17) in eval mode: input `pixels`, float32 [batch, C, H, W] (NCHW, the
 * PyTorch layout) holding what the backbone sees in GenView, RGB in [0, 1] with no mean/std normalisation;
 * output `features`, float32 [batch, featureDim], the pooled features `embed` gives (a ViT's class token).
 * Our tensors are NHWC: a caller transposes (0, 3, 1, 2) before feeding. Batch norms are folded into the
 * convolutions. The graph is rebuilt from the backbone's torchvision/timm-named weights.
 */
export function backboneToOnnx(module: Module, options: { metadata?: Record<string, string>; docString?: string } = {}): BackboneOnnx {
  const state = toTorchStateDict(module);
  const architecture = architectureOf(state, module.name);
  const g = new GraphBuilder();
  let inputDims: Array<number | string>;
  let features: string;
  if (architecture === 'vit') {
    const patch = weight(state, 'patch_embed.proj.weight').shape;
    const tokens = weight(state, 'pos_embed').shape[1];
    const size = Math.round(Math.sqrt(tokens - 1)) * patch[2];
    inputDims = ['batch', patch[1], size, size];
    features = vitGraph(g, state, g.input(ONNX_INPUT, inputDims));
  } else {
    const first = weight(state, architecture === 'resnet' ? 'conv1.weight' : 'blocks.0.conv.weight').shape;
    inputDims = ['batch', first[1], 'height', 'width'];
    const pixels = g.input(ONNX_INPUT, inputDims);
    features = architecture === 'resnet' ? resnetGraph(g, state, pixels) : smallCnnGraph(g, state, pixels);
  }
  // A Backbone knows its width; a bare Module leaves the dimension symbolic.
  const width = (module as { featureDim?: unknown }).featureDim;
  const featureDim = typeof width === 'number' ? width : 'feature_dim';
  g.output(features, ONNX_OUTPUT, ['batch', featureDim]);
  const bytes = encodeOnnxModel({
    graph: g.build(module.name),
    opset: ONNX_OPSET,
    producerName: 'genview',
    producerVersion: '1',
    docString:
      options.docString ??
      `${module.name}: pixels float32 [batch, ${inputDims.slice(1).join(', ')}] (NCHW, RGB in [0, 1], no mean/std) -> features float32 [batch, ${featureDim}]`,
    metadata: options.metadata,
  });
  return { bytes, architecture, inputDims, featureDim };
}

/** Writes backboneToOnnx's model to `path`, atomically. */
export async function saveBackboneOnnx(path: string, module: Module, options: { metadata?: Record<string, string> } = {}): Promise<BackboneOnnx> {
  const model = backboneToOnnx(module, options);
  await writeFileAtomic(path, model.bytes);
  return model;
}
