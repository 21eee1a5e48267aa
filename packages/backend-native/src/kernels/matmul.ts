import { type KernelFunc, type TensorInfo, backend_util } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { type KernelArgs, type KernelContext, allocOutput, f32, output, sizeOf } from './util';

/** Batched sgemm with the cpu kernel's semantics: outer dims broadcast, batch i uses a[i % batchA]. */
function nativeMatMul(
  ctx: KernelContext,
  backend: MathBackendCPU,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): { shape: number[]; values: Float32Array } | null {
  const av = f32(backend, a);
  const bv = f32(backend, b);
  if (!av || !bv || a.shape.length < 2 || b.shape.length < 2) return null;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const k = transposeA ? a.shape[aRank - 2] : a.shape[aRank - 1];
  const kB = transposeB ? b.shape[bRank - 1] : b.shape[bRank - 2];
  if (k !== kB) return null; // let the stock kernel raise its own error message
  const m = transposeA ? a.shape[aRank - 1] : a.shape[aRank - 2];
  const n = transposeB ? b.shape[bRank - 2] : b.shape[bRank - 1];
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = sizeOf(outerA);
  const batchB = sizeOf(outerB);
  const outer = backend_util.assertAndGetBroadcastShape(outerA, outerB);
  const batch = Math.max(batchA, batchB);
  // An empty inner dim gives zeros (the product of nothing); otherwise sgemm writes every element.
  if (k === 0) return { shape: [...outer, m, n], values: new Float32Array(batch * m * n) };
  const values = allocOutput(batch * m * n);
  if (values.length > 0) {
    ctx.addon.batchMatMul(av, bv, values, batchA, batchB, m, n, k, transposeA, transposeB);
  }
  return { shape: [...outer, m, n], values };
}

export function batchMatMulKernel(ctx: KernelContext): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as KernelArgs;
    const r = nativeMatMul(ctx, backend, inputs.a, inputs.b, Boolean(attrs.transposeA), Boolean(attrs.transposeB));
    return r ? output(backend, r.shape, r.values) : ctx.fallback(args);
  };
}

/** _FusedMatMul natively for bias over the last dim with linear/relu; other epilogues use the stock kernel. */
export function fusedMatMulKernel(ctx: KernelContext): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as KernelArgs;
    const activation = (attrs.activation as string | undefined) ?? 'linear';
    const bias = inputs.bias as TensorInfo | undefined;
    const biasValues = bias ? f32(backend, bias) : null;
    if ((bias && !biasValues) || inputs.preluActivationWeights || (activation !== 'linear' && activation !== 'relu')) {
      return ctx.fallback(args);
    }
    const r = nativeMatMul(ctx, backend, inputs.a, inputs.b, Boolean(attrs.transposeA), Boolean(attrs.transposeB));
    if (!r) return ctx.fallback(args);
    const n = r.shape[r.shape.length - 1];
    if (biasValues && biasValues.length !== n) return ctx.fallback(args);
    if ((biasValues || activation === 'relu') && r.values.length > 0) {
      ctx.addon.biasActivation(r.values, biasValues, r.values.length / n, n, activation === 'relu');
    }
    return output(backend, r.shape, r.values);
  };
}
