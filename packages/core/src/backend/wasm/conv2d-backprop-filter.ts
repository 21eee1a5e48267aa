import {
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropFilterInputs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  backend_util,
} from '@tensorflow/tfjs-core';
import { convSigned } from './conv-geometry';
import { withKernelScope } from './kernel-scope';

/**
 * dW[kh,kw,ci,co] = sum over n,i,j of x[n, i*s + kh - pt, j*s + kw - pl, ci] * dy[n,i,j,co]. Read with
 * ci as the batch, n as the input channels and dy as a filter of size OHxOW, that sum is a forward conv
 * with stride 1 and dilation s, which XNNPACK runs as one GEMM-like pass instead of a JavaScript loop.
 */
export function conv2DBackpropFilter(args: { inputs: Conv2DBackpropFilterInputs; backend: KernelBackend; attrs: Conv2DBackpropFilterAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  if (dataFormat === 'NCHW') throw new Error("wasm Conv2DBackpropFilter supports dataFormat 'NHWC' only, as the wasm Conv2D does.");
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, padInfo } = info;
  return withKernelScope(backend, (scope) => {
    const xT = scope.transpose(x, [3, 1, 2, 0]);
    const dyT = scope.transpose(scope.reshape(dy, [batchSize, outHeight, outWidth, outChannels]), [1, 2, 0, 3]);
    const pads = {
      top: padInfo.top,
      bottom: (filterHeight - 1) * dilationHeight + (outHeight - 1) * strideHeight + 1 - inHeight - padInfo.top,
      left: padInfo.left,
      right: (filterWidth - 1) * dilationWidth + (outWidth - 1) * strideWidth + 1 - inWidth - padInfo.left,
    };
    const dw = convSigned(scope, 'Conv2D', xT, dyT, pads, [dilationHeight, dilationWidth], [strideHeight, strideWidth], filterHeight, filterWidth);
    return scope.reshape(scope.transpose(dw, [1, 2, 0, 3]), [filterHeight, filterWidth, inChannels, outChannels]);
  });
}

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};
