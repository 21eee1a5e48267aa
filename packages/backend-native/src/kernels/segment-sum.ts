import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type KernelArgs, type KernelContext, f32, sizeOf } from './util';

/**
 * UnsortedSegmentSum as one scatter-add pass over the rows. The stock cpu kernel builds one mask per
 * segment and reduces the whole input with it, O(segments × rows × width); tf.gather's gradient is this
 * kernel with one segment per table row, so an embedding table of a few thousand rows (a text tower's
 * token embedding) cost seconds per backward pass. Rows whose id is outside [0, numSegments) are
 * dropped, as TensorFlow does. Non-float32 data goes to the stock kernel.
 */
export function unsortedSegmentSumKernel(ctx: KernelContext): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as KernelArgs;
    const x = inputs.x as TensorInfo;
    const segmentIds = inputs.segmentIds as TensorInfo;
    const values = f32(backend, x);
    const ids = backend.data.get(segmentIds.dataId).values;
    if (!values || !(ids instanceof Int32Array)) return ctx.fallback(args) as TensorInfo;
    const numSegments = attrs.numSegments as number;
    const innerShape = x.shape.slice(segmentIds.shape.length);
    const inner = sizeOf(innerShape);
    const out = new Float32Array(numSegments * inner);
    for (let row = 0; row < ids.length; row++) {
      const id = ids[row];
      if (id < 0 || id >= numSegments) continue;
      const from = row * inner;
      const to = id * inner;
      for (let j = 0; j < inner; j++) out[to + j] += values[from + j];
    }
    return backend.makeTensorInfo([numSegments, ...innerShape], 'float32', out);
  };
}
