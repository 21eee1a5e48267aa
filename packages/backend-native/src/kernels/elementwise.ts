import { type KernelFunc, backend_util } from '@tensorflow/tfjs-core';
import { type KernelArgs, type KernelContext, allocOutput, f32, output, sizeOf } from './util';

/** Op codes understood by the addon's binary(). */
export const BinaryOp = { add: 0, sub: 1, mul: 2, div: 3, squaredDifference: 4 } as const;
/** Op codes understood by the addon's unary(). */
export const UnaryOp = { relu: 0, step: 1, square: 2, sqrt: 3, rsqrt: 4, neg: 5, exp: 6 } as const;

export interface BroadcastPlan {
  shape: number[];
  aStrides: number[];
  bStrides: number[];
}

/**
 * Collapses a numpy-style broadcast into the fewest dims where each operand is either present
 * (element stride) or broadcast (stride 0), so the addon runs one loop nest for any pair of shapes:
 * e.g. [N,H,W,C] * [C] becomes shape [N*H*W, C] with strides a [C, 1], b [0, 1].
 */
export function broadcastPlan(aShape: readonly number[], bShape: readonly number[], outShape: readonly number[]): BroadcastPlan {
  const rank = outShape.length;
  const a = [...new Array<number>(rank - aShape.length).fill(1), ...aShape];
  const b = [...new Array<number>(rank - bShape.length).fill(1), ...bShape];
  const dims: { size: number; aIn: boolean; bIn: boolean }[] = [];
  for (let d = 0; d < rank; d++) {
    if (outShape[d] === 1) continue;
    const aIn = a[d] !== 1;
    const bIn = b[d] !== 1;
    const prev = dims[dims.length - 1];
    if (prev && prev.aIn === aIn && prev.bIn === bIn) prev.size *= outShape[d];
    else dims.push({ size: outShape[d], aIn, bIn });
  }
  if (dims.length === 0) dims.push({ size: 1, aIn: true, bIn: true });
  const shape = dims.map((d) => d.size);
  const strides = (present: (d: (typeof dims)[number]) => boolean): number[] => {
    const out = new Array<number>(dims.length).fill(0);
    let stride = 1;
    for (let i = dims.length - 1; i >= 0; i--) {
      if (present(dims[i])) {
        out[i] = stride;
        stride *= dims[i].size;
      }
    }
    return out;
  };
  return { shape, aStrides: strides((d) => d.aIn), bStrides: strides((d) => d.bIn) };
}

/** Binary float32 ops with any numpy-style broadcast (per-channel vectors, scalars, [N,1,1,C]). */
export function binaryKernel(ctx: KernelContext, op: number): KernelFunc {
  return (args) => {
    const { inputs, backend } = args as unknown as KernelArgs;
    const a = f32(backend, inputs.a);
    const b = f32(backend, inputs.b);
    if (!a || !b) return ctx.fallback(args);
    const outShape = backend_util.assertAndGetBroadcastShape(inputs.a.shape, inputs.b.shape);
    const size = sizeOf(outShape);
    if (size === 0) return ctx.fallback(args);
    const plan = broadcastPlan(inputs.a.shape, inputs.b.shape, outShape);
    const out = allocOutput(size);
    ctx.addon.binary(op, a, b, out, plan.shape, plan.aStrides, plan.bStrides);
    return output(backend, outShape, out);
  };
}

export function unaryKernel(ctx: KernelContext, op: number): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as KernelArgs;
    const x = f32(backend, inputs.x);
    // Step with a non-zero alpha (leaky step) is left to the stock kernel.
    if (!x || (op === UnaryOp.step && attrs.alpha !== undefined && attrs.alpha !== 0)) return ctx.fallback(args);
    const out = allocOutput(x.length);
    ctx.addon.unary(op, x, out);
    return output(backend, [...inputs.x.shape], out);
  };
}
