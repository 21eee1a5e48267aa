import {
  type Conv2DBackpropInputAttrs,
  type Conv2DBackpropInputInputs,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  backend_util,
} from '@tensorflow/tfjs-core';
import { transposedConv } from './conv-geometry';
import { withKernelScope } from './kernel-scope';

/**
 * dx is the transposed conv of dy: a forward conv with the spatially flipped filter whose in and out
 * channels are swapped. Running it on XNNPACK replaces the stock kernel's scalar loop, which was half
 * of a conv net's train step.
 */
export function conv2DBackpropInput(args: { inputs: Conv2DBackpropInputInputs; backend: KernelBackend; attrs: Conv2DBackpropInputAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const dy = inputs.dy as TensorInfo;
  const filter = inputs.filter as TensorInfo;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
  if (dataFormat === 'NCHW') throw new Error("wasm Conv2DBackpropInput supports dataFormat 'NHWC' only, as the wasm Conv2D does.");
  const filterShape = filter.shape as [number, number, number, number];
  const info = backend_util.computeConv2DInfo(inputShape, filterShape, strides, 1, pad, dimRoundingMode);
  return withKernelScope(backend, (scope) => {
    const dy4 = scope.reshape(dy, [info.batchSize, info.outHeight, info.outWidth, info.outChannels]);
    return transposedConv(scope, {
      kind: 'Conv2D',
      dy: dy4,
      filter: { values: backend.readSync(filter.dataId) as Float32Array, shape: filterShape, swapInner: true },
      height: info.inHeight,
      width: info.inWidth,
      strides: [info.strideHeight, info.strideWidth],
      dilations: [1, 1],
      padTop: info.padInfo.top,
      padLeft: info.padInfo.left,
    });
  });
}

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
};
