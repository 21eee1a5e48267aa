import { backend_util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { ConvParamList } from '../addon';
import { type KernelArgs, type KernelContext, allocOutput, f32, output } from './util';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number | backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

function params(info: backend_util.Conv2DInfo): ConvParamList {
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    info.padInfo.top,
    info.padInfo.left,
  ];
}

function channelsLast(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === 'NHWC';
}

export function conv2dKernel(ctx: KernelContext): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as KernelArgs;
    const x = f32(backend, inputs.x);
    const w = f32(backend, inputs.filter);
    if (!x || !w || !channelsLast(attrs.dataFormat)) return ctx.fallback(args);
    const info = backend_util.computeConv2DInfo(
      inputs.x.shape as Shape4,
      inputs.filter.shape as Shape4,
      attrs.strides as number | [number, number],
      attrs.dilations as number | [number, number],
      attrs.pad as Pad,
      attrs.dimRoundingMode as Rounding,
      false,
      'channelsLast',
    );
    const y = allocOutput(info.outShape[0] * info.outShape[1] * info.outShape[2] * info.outShape[3]);
    if (y.length > 0) ctx.addon.conv2d(x, w, y, params(info));
    return output(backend, info.outShape, y);
  };
}

export function conv2dBackpropInputKernel(ctx: KernelContext): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as KernelArgs;
    const dy = f32(backend, inputs.dy);
    const w = f32(backend, inputs.filter);
    if (!dy || !w || !channelsLast(attrs.dataFormat)) return ctx.fallback(args);
    const info = backend_util.computeConv2DInfo(
      attrs.inputShape as unknown as Shape4,
      inputs.filter.shape as Shape4,
      attrs.strides as number | [number, number],
      1,
      attrs.pad as Pad,
      attrs.dimRoundingMode as Rounding,
      false,
      'channelsLast',
    );
    const dx = allocOutput(info.inShape[0] * info.inShape[1] * info.inShape[2] * info.inShape[3]);
    // The addon writes every element of dx; an empty dy contributes nothing.
    if (dy.length === 0) dx.fill(0);
    else if (dx.length > 0) ctx.addon.conv2dBackpropInput(dy, w, dx, params(info));
    return output(backend, [...info.inShape], dx);
  };
}

export function conv2dBackpropFilterKernel(ctx: KernelContext): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as KernelArgs;
    const x = f32(backend, inputs.x);
    const dy = f32(backend, inputs.dy);
    if (!x || !dy || !channelsLast(attrs.dataFormat)) return ctx.fallback(args);
    const filterShape = attrs.filterShape as unknown as Shape4;
    const info = backend_util.computeConv2DInfo(
      inputs.x.shape as Shape4,
      filterShape,
      attrs.strides as number | [number, number],
      1,
      attrs.pad as Pad,
      attrs.dimRoundingMode as Rounding,
      false,
      'channelsLast',
    );
    const dw = allocOutput(filterShape[0] * filterShape[1] * filterShape[2] * filterShape[3]);
    if (dw.length > 0 && dy.length > 0) ctx.addon.conv2dBackpropFilter(x, dy, dw, params(info));
    return output(backend, [...filterShape], dw);
  };
}

/**
 * FusedConv2D natively when the epilogue is bias over channels and linear/relu; anything else (prelu,
 * elu, leaky relu, NCHW) runs the stock kernel.
 */
export function fusedConv2dKernel(ctx: KernelContext): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as KernelArgs;
    const x = f32(backend, inputs.x);
    const w = f32(backend, inputs.filter);
    const activation = (attrs.activation as string | undefined) ?? 'linear';
    const bias = inputs.bias as TensorInfo | undefined;
    const biasValues = bias ? f32(backend, bias) : null;
    const outC = inputs.filter.shape[3];
    const simpleBias = !bias || (biasValues !== null && biasValues.length === outC);
    const simpleAct = activation === 'linear' || activation === 'relu';
    if (!x || !w || !channelsLast(attrs.dataFormat) || !simpleBias || !simpleAct || inputs.preluActivationWeights) {
      return ctx.fallback(args);
    }
    const info = backend_util.computeConv2DInfo(
      inputs.x.shape as Shape4,
      inputs.filter.shape as Shape4,
      attrs.strides as number | [number, number],
      attrs.dilations as number | [number, number],
      attrs.pad as Pad,
      attrs.dimRoundingMode as Rounding,
      false,
      'channelsLast',
    );
    const y = allocOutput(info.outShape[0] * info.outShape[1] * info.outShape[2] * info.outShape[3]);
    if (y.length > 0) {
      ctx.addon.conv2d(x, w, y, params(info));
      if (biasValues || activation === 'relu') {
        ctx.addon.biasActivation(y, biasValues, y.length / outC, outC, activation === 'relu');
      }
    }
    return output(backend, info.outShape, y);
  };
}
