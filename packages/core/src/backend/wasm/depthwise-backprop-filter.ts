import {
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type DepthwiseConv2dNativeBackpropFilterInputs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  backend_util,
} from '@tensorflow/tfjs-core';
import { convSigned } from './conv-geometry';
import { withKernelScope } from './kernel-scope';

/**
 * dW[kh,kw,c,q] = sum over n,i,j of x[n, i*s + kh*d - pt, .., c] * dy[n,i,j,c*m+q]. With the batch folded
 * into the channels (one channel per (n,c)) and dy as an OHxOW depthwise filter of multiplier m, that is
 * one forward depthwise conv (stride d, dilation s) followed by a sum over n.
 */
export function depthwiseConv2dNativeBackpropFilter(args: {
  inputs: DepthwiseConv2dNativeBackpropFilterInputs;
  backend: KernelBackend;
  attrs: DepthwiseConv2dNativeBackpropFilterAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs;
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, dilations, pad, dimRoundingMode, true);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, padInfo } = info;
  const multiplier = outChannels / inChannels;
  return withKernelScope(backend, (scope) => {
    const xT = scope.reshape(scope.transpose(x, [1, 2, 0, 3]), [1, inHeight, inWidth, batchSize * inChannels]);
    const dyT = scope.reshape(scope.transpose(dy, [1, 2, 0, 3]), [outHeight, outWidth, batchSize * inChannels, multiplier]);
    const pads = {
      top: padInfo.top,
      bottom: (filterHeight - 1) * dilationHeight + (outHeight - 1) * strideHeight + 1 - inHeight - padInfo.top,
      left: padInfo.left,
      right: (filterWidth - 1) * dilationWidth + (outWidth - 1) * strideWidth + 1 - inWidth - padInfo.left,
    };
    const perSample = convSigned(
      scope,
      'DepthwiseConv2dNative',
      xT,
      dyT,
      pads,
      [dilationHeight, dilationWidth],
      [strideHeight, strideWidth],
      filterHeight,
      filterWidth,
    );
    const byBatch = scope.reshape(perSample, [filterHeight, filterWidth, batchSize, outChannels]);
    const summed = batchSize === 1 ? byBatch : scope.run('Sum', { x: byBatch }, { axis: [2], keepDims: false });
    return scope.reshape(summed, [filterHeight, filterWidth, inChannels, multiplier]);
  });
}

export const depthwiseConv2dNativeBackpropFilterConfig: KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as KernelFunc,
};
