import { type KernelFunc, type TensorInfo, backend_util, slice_util, util } from '@tensorflow/tfjs-core';
import type { KernelArgs, KernelContext } from './util';

type Values = Float32Array | Int32Array;

/** Plain numeric storage the copies below can move with typed-array ops; anything else falls back. */
function numericValues(args: KernelArgs, t: TensorInfo): Values | null {
  if (t.dtype !== 'float32' && t.dtype !== 'int32') return null;
  const values = args.backend.data.get(t.dataId).values;
  return values instanceof Float32Array || values instanceof Int32Array ? values : null;
}

function emptyLike(values: Values, n: number): Values {
  return values instanceof Float32Array ? new Float32Array(n) : new Int32Array(n);
}

/**
 * Copies the box [begin, begin + size) out of a row-major array as contiguous runs. The stock cpu
 * kernels (Slice, and SplitV through it) copy a non-contiguous box element by element through
 * TensorBuffer index arithmetic; attention's q/k/v split (the last axis) then cost more than the
 * attention matmuls. Trailing axes taken whole merge into the run, so most boxes move a few long runs.
 */
function copyBox(values: Values, shape: readonly number[], begin: readonly number[], size: readonly number[]): Values {
  const total = util.sizeFromShape(size as number[]);
  const out = emptyLike(values, total);
  if (total === 0) return out;
  // The run: the last axis plus every earlier axis whose later axes are all taken whole.
  let axis = shape.length - 1;
  let run = size[axis];
  while (axis > 0 && size[axis] === shape[axis]) {
    axis--;
    run *= size[axis];
  }
  const strides = util.computeStrides(shape as number[]);
  const stride = (i: number) => (i < strides.length ? strides[i] : 1);
  let src = begin.reduce((sum, b, i) => sum + b * stride(i), 0);
  if (axis === 0) {
    out.set(values.subarray(src, src + run));
    return out;
  }
  const index = new Array(axis).fill(0);
  for (let dst = 0; dst < total; dst += run) {
    out.set(values.subarray(src, src + run), dst);
    // Odometer over the outer axes [0, axis), moving the source offset by the matching strides.
    for (let d = axis - 1; d >= 0; d--) {
      index[d]++;
      src += stride(d);
      if (index[d] < size[d]) break;
      src -= stride(d) * size[d];
      index[d] = 0;
    }
  }
  return out;
}

export function sliceKernel(ctx: KernelContext): KernelFunc {
  return (raw) => {
    const args = raw as unknown as KernelArgs;
    const x = args.inputs.x as TensorInfo;
    const values = numericValues(args, x);
    if (!values) return ctx.fallback(raw) as TensorInfo;
    const [begin, size] = slice_util.parseSliceParams(x, args.attrs.begin as number | number[], args.attrs.size as number | number[] | undefined);
    slice_util.assertParamsValid(x, begin, size);
    return args.backend.makeTensorInfo(size, x.dtype, copyBox(values, x.shape, begin, size));
  };
}

/** SplitV as one box copy per piece (tf.split, and the q/k/v split of attention). */
export function splitVKernel(ctx: KernelContext): KernelFunc {
  return (raw) => {
    const args = raw as unknown as KernelArgs;
    const x = args.inputs.x as TensorInfo;
    const values = numericValues(args, x);
    if (!values) return ctx.fallback(raw) as TensorInfo[];
    const axis = util.parseAxisParam(args.attrs.axis as number, x.shape)[0];
    const sizes = backend_util.prepareSplitSize(x, args.attrs.numOrSizeSplits as number | number[], axis);
    const begin = new Array(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = x.shape.slice();
      size[axis] = s;
      const piece = args.backend.makeTensorInfo(size, x.dtype, copyBox(values, x.shape, begin, size));
      begin[axis] += s;
      return piece;
    });
  };
}

/**
 * Transpose with precomputed strides and an inner loop over the output's last axis. The stock cpu
 * kernel maps every element through TensorBuffer.indexToLoc/locToIndex, which made the transposes of
 * multi-head attention (and their gradients) a large share of a text tower's step.
 */
export function transposeKernel(ctx: KernelContext): KernelFunc {
  return (raw) => {
    const args = raw as unknown as KernelArgs;
    const x = args.inputs.x as TensorInfo;
    const values = numericValues(args, x);
    if (!values) return ctx.fallback(raw) as TensorInfo;
    const perm = args.attrs.perm as number[];
    const rank = x.shape.length;
    const outShape = perm.map((p) => x.shape[p]);
    const total = util.sizeFromShape(outShape);
    const out = emptyLike(values, total);
    if (total === 0 || rank === 0) {
      out.set(values.subarray(0, total));
      return args.backend.makeTensorInfo(outShape, x.dtype, out);
    }
    const inStrides = [...util.computeStrides(x.shape), 1];
    // Source stride of each output axis.
    const step = perm.map((p) => inStrides[p]);
    const last = rank - 1;
    const inner = outShape[last];
    const innerStep = step[last];
    const index = new Array(last).fill(0);
    let src = 0;
    for (let dst = 0; dst < total; dst += inner) {
      for (let j = 0, s = src; j < inner; j++, s += innerStep) out[dst + j] = values[s];
      for (let d = last - 1; d >= 0; d--) {
        index[d]++;
        src += step[d];
        if (index[d] < outShape[d]) break;
        src -= step[d] * outShape[d];
        index[d] = 0;
      }
    }
    return args.backend.makeTensorInfo(outShape, x.dtype, out);
  };
}
