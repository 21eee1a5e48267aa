import type { DataType, KernelBackend, TensorInfo, backend_util } from '@tensorflow/tfjs-core';

/** The parts of the wasm backend that let a kernel write its output straight into the wasm heap. */
export interface WasmHeapBackend extends KernelBackend {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): backend_util.TypedArray;
}

export function asWasmHeapBackend(backend: KernelBackend): WasmHeapBackend {
  const candidate = backend as Partial<WasmHeapBackend>;
  if (typeof candidate.makeOutput !== 'function' || typeof candidate.typedArrayFromHeap !== 'function') {
    throw new Error('GenView wasm kernels run only on the tfjs wasm backend.');
  }
  return backend as WasmHeapBackend;
}
