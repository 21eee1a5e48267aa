import { type KernelBackend, type KernelConfig, type KernelFunc, type TensorInfo, type TileAttrs, type TileInputs, util } from '@tensorflow/tfjs-core';
import { asWasmHeapBackend } from './heap';

/**
 * Tile with block copies. The stock wasm Tile computes an index per element, and batch norm's gradient
 * tiles [1,1,1,C] statistics up to the activation's size several times per layer: that was a third of
 * a conv net's train step. Here x is placed once, then each axis, innermost first, is filled by doubling
 * copyWithin (memcpy), so the cost is about one pass over the output.
 */
export function tile(args: { inputs: TileInputs; backend: KernelBackend; attrs: TileAttrs }): TensorInfo {
  const backend = asWasmHeapBackend(args.backend);
  const x = args.inputs.x as TensorInfo;
  const { reps } = args.attrs;
  if (x.dtype === 'string') throw new Error('GenView wasm Tile does not tile string tensors.');
  const shape = x.shape;
  const rank = shape.length;
  const outShape = shape.map((d, i) => d * reps[i]);
  const out = backend.makeOutput(outShape, x.dtype);
  // Views are taken after makeOutput: an allocation may grow the heap and detach older views.
  const dst = backend.typedArrayFromHeap(out);
  const src = backend.typedArrayFromHeap(x);
  if (dst.length === 0) return out;
  if (rank === 0) {
    dst.set(src);
    return out;
  }
  const outStrides = [...util.computeStrides(outShape), 1];
  const rowLength = shape[rank - 1];
  const rows = src.length / rowLength;
  const index = new Array<number>(rank).fill(0);
  for (let row = 0; row < rows; row++) {
    let offset = 0;
    for (let j = 0; j < rank - 1; j++) offset += index[j] * outStrides[j];
    dst.set(src.subarray(row * rowLength, (row + 1) * rowLength), offset);
    for (let j = rank - 2; j >= 0; j--) {
      if (++index[j] < shape[j]) break;
      index[j] = 0;
    }
  }
  for (let axis = rank - 1; axis >= 0; axis--) {
    if (reps[axis] === 1) continue;
    const slab = shape[axis] * outStrides[axis];
    const total = slab * reps[axis];
    const prefix = new Array<number>(axis).fill(0);
    const prefixCount = shape.slice(0, axis).reduce((a, b) => a * b, 1);
    for (let p = 0; p < prefixCount; p++) {
      let base = 0;
      for (let j = 0; j < axis; j++) base += prefix[j] * outStrides[j];
      for (let filled = slab; filled < total; ) {
        const n = Math.min(filled, total - filled);
        dst.copyWithin(base + filled, base, base + n);
        filled += n;
      }
      for (let j = axis - 1; j >= 0; j--) {
        if (++prefix[j] < shape[j]) break;
        prefix[j] = 0;
      }
    }
  }
  return out;
}

export const tileConfig: KernelConfig = {
  kernelName: 'Tile',
  backendName: 'wasm',
  kernelFunc: tile as unknown as KernelFunc,
};
