import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type KernelArgs, type KernelContext, allocOutput, f32, output } from './util';

/** Index into [0, size) that output position `i` (of a pad `before` wide) reads, mirrored at the edges. */
function mirrorIndex(i: number, before: number, size: number, offset: 0 | 1): number {
  let j = i - before;
  // reflect (offset 1) skips the edge element, symmetric (offset 0) repeats it; tfjs allows pads < size.
  if (j < 0) j = -j - 1 + offset;
  else if (j >= size) j = 2 * size - j - 1 - offset;
  return j;
}

/**
 * MirrorPad on float32 tensors of any rank: for each output row (the last axis) the source row is
 * found once by mirroring the outer indices, then the row is copied with its mirrored ends. The
 * stock cpu kernel maps every element through index arithmetic; random-resized-crop pads each batch
 * this way, and there it cost half of the view pipeline's time.
 */
export function mirrorPadKernel(ctx: KernelContext): KernelFunc {
  return (raw) => {
    const args = raw as unknown as KernelArgs;
    const x = args.inputs.x as TensorInfo;
    const values = f32(args.backend, x);
    const paddings = args.attrs.paddings as [number, number][];
    const offset = args.attrs.mode === 'reflect' ? 1 : 0;
    if (!values || x.shape.length === 0) return ctx.fallback(raw);
    const shape = x.shape;
    const rank = shape.length;
    const outShape = shape.map((s, d) => s + paddings[d][0] + paddings[d][1]);
    const outRow = outShape[rank - 1];
    const inRow = shape[rank - 1];
    const left = paddings[rank - 1][0];
    const rows = outShape.slice(0, -1).reduce((a, b) => a * b, 1);
    const out = allocOutput(rows * outRow);
    // Source offset of each output column of a row, the same for every row.
    const column = new Int32Array(outRow);
    for (let c = 0; c < outRow; c++) column[c] = mirrorIndex(c, left, inRow, offset);
    const inStrides = new Array<number>(rank).fill(1);
    for (let d = rank - 2; d >= 0; d--) inStrides[d] = inStrides[d + 1] * shape[d + 1];
    const index = new Array<number>(Math.max(0, rank - 1)).fill(0);
    for (let r = 0; r < rows; r++) {
      let src = 0;
      for (let d = 0; d < rank - 1; d++) src += mirrorIndex(index[d], paddings[d][0], shape[d], offset) * inStrides[d];
      const dst = r * outRow;
      // Rows are short (an image row of one channel); a subarray per row would cost more than the copy.
      for (let c = 0; c < outRow; c++) out[dst + c] = values[src + column[c]];
      for (let d = rank - 2; d >= 0; d--) {
        if (++index[d] < outShape[d]) break;
        index[d] = 0;
      }
    }
    return output(args.backend, outShape, out);
  };
}

/** ClipByValue on float32 in one pass (the stock kernel goes through a per-element closure). NaN stays NaN, as there. */
export function clipByValueKernel(ctx: KernelContext): KernelFunc {
  return (raw) => {
    const args = raw as unknown as KernelArgs;
    const x = args.inputs.x as TensorInfo;
    const values = f32(args.backend, x);
    if (!values) return ctx.fallback(raw);
    const lo = args.attrs.clipValueMin as number;
    const hi = args.attrs.clipValueMax as number;
    const out = allocOutput(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      out[i] = v < lo ? lo : Math.min(v, hi);
    }
    return output(args.backend, [...x.shape], out);
  };
}
