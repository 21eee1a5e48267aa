import { type KernelFunc, backend_util, util } from '@tensorflow/tfjs-core';
import { type KernelArgs, type KernelContext, allocOutput, f32, output, sizeOf } from './util';

/**
 * Sum / Mean over a contiguous block of axes, viewed as [outer, reduce, inner]. The stock kernel first
 * transposes the reduced axes to the end (a full copy of the input), which for batch-norm moments over
 * [N, H, W] of an NHWC tensor costs more than the sum itself. Non-contiguous axes fall back.
 */
function reduceKernel(ctx: KernelContext, mean: boolean): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as KernelArgs;
    const x = f32(backend, inputs.x);
    const shape = inputs.x.shape;
    if (!x || x.length === 0) return ctx.fallback(args);
    const axes = [...new Set(util.parseAxisParam(attrs.axis as number | number[], shape))].sort((p, q) => p - q);
    if (axes.length === 0) return ctx.fallback(args);
    for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[0] + i) return ctx.fallback(args);
    const first = axes[0];
    const last = axes[axes.length - 1];
    const outer = sizeOf(shape.slice(0, first));
    const reduce = sizeOf(shape.slice(first, last + 1));
    const inner = sizeOf(shape.slice(last + 1));
    const out = allocOutput(outer * inner);
    ctx.addon.reduceSum(x, out, outer, reduce, inner, mean);
    let [outShape] = backend_util.computeOutAndReduceShapes(shape, axes);
    if (attrs.keepDims) outShape = backend_util.expandShapeToKeepDim(outShape, axes);
    return output(backend, outShape, out);
  };
}

export const sumKernel = (ctx: KernelContext): KernelFunc => reduceKernel(ctx, false);
export const meanKernel = (ctx: KernelContext): KernelFunc => reduceKernel(ctx, true);
