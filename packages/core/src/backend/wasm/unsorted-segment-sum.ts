import {
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
  type UnsortedSegmentSumAttrs,
  type UnsortedSegmentSumInputs,
  util,
} from '@tensorflow/tfjs-core';
import { asWasmHeapBackend } from './heap';

/**
 * Missing from the stock wasm backend, yet it is the gradient of tf.gather (embeddings, index-based
 * view pairing), so any model that gathers cannot train on wasm without it. Ids outside
 * [0, numSegments) are dropped, as in TensorFlow.
 */
export function unsortedSegmentSum(args: { inputs: UnsortedSegmentSumInputs; backend: KernelBackend; attrs: UnsortedSegmentSumAttrs }): TensorInfo {
  const backend = asWasmHeapBackend(args.backend);
  const x = args.inputs.x as TensorInfo;
  const segmentIds = args.inputs.segmentIds as TensorInfo;
  const { numSegments } = args.attrs;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new Error(`GenView wasm UnsortedSegmentSum supports float32 and int32, got ${x.dtype}.`);
  const ids = backend.readSync(segmentIds.dataId) as Int32Array | Float32Array;
  const rows = ids.length;
  const inner = rows === 0 ? 0 : util.sizeFromShape(x.shape) / rows;
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const out = backend.makeOutput(outShape, x.dtype);
  const dst = backend.typedArrayFromHeap(out);
  const src = backend.typedArrayFromHeap(x);
  dst.fill(0);
  for (let i = 0; i < rows; i++) {
    const id = ids[i];
    if (id < 0 || id >= numSegments) continue;
    const from = i * inner;
    const to = id * inner;
    for (let k = 0; k < inner; k++) dst[to + k] += src[from + k];
  }
  return out;
}

export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum as unknown as KernelFunc,
};
