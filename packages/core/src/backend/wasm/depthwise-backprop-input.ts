import {
  type DepthwiseConv2dNativeBackpropInputAttrs,
  type DepthwiseConv2dNativeBackpropInputInputs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  backend_util,
} from '@tensorflow/tfjs-core';
import { transposedConv } from './conv-geometry';
import { withKernelScope } from './kernel-scope';

/**
 * dx[.., c] = sum over q of the transposed depthwise conv of dy channel c*m+q. The flipped filter is run
 * as a multiplier-1 depthwise conv over all C*m channels of dy, then the m channels of each input
 * channel are summed.
 */
export function depthwiseConv2dNativeBackpropInput(args: {
  inputs: DepthwiseConv2dNativeBackpropInputInputs;
  backend: KernelBackend;
  attrs: DepthwiseConv2dNativeBackpropInputAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const dy = inputs.dy as TensorInfo;
  const filter = inputs.filter as TensorInfo;
  const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs;
  const filterShape = filter.shape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(inputShape, filterShape, strides, dilations, pad, dimRoundingMode, true);
  const { batchSize, inHeight, inWidth, inChannels, outChannels, filterHeight, filterWidth } = info;
  if (info.strideHeight * info.strideWidth > 1 && info.dilationHeight * info.dilationWidth > 1) {
    throw new Error('wasm DepthwiseConv2dNativeBackpropInput: strides and dilations cannot both exceed 1.');
  }
  const multiplier = outChannels / inChannels;
  return withKernelScope(backend, (scope) => {
    const dx = transposedConv(scope, {
      kind: 'DepthwiseConv2dNative',
      dy: scope.reshape(dy, [batchSize, info.outHeight, info.outWidth, outChannels]),
      // Each of the C*m dy channels has its own taps: a multiplier-1 depthwise filter.
      filter: { values: backend.readSync(filter.dataId) as Float32Array, shape: [filterHeight, filterWidth, outChannels, 1], swapInner: false },
      height: inHeight,
      width: inWidth,
      strides: [info.strideHeight, info.strideWidth],
      dilations: [info.dilationHeight, info.dilationWidth],
      padTop: info.padInfo.top,
      padLeft: info.padInfo.left,
    });
    if (multiplier === 1) return dx;
    const split = scope.reshape(dx, [batchSize, inHeight, inWidth, inChannels, multiplier]);
    return scope.run('Sum', { x: split }, { axis: [4], keepDims: false });
  });
}

export const depthwiseConv2dNativeBackpropInputConfig: KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as KernelFunc,
};
