import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { NativeAddon } from '../addon';

/** What every native kernel gets: the addon, and the stock cpu kernel to fall back to. */
export interface KernelContext {
  addon: NativeAddon;
  fallback: KernelFunc;
}

export interface KernelArgs {
  // A plain record: the kernels check the optional inputs (bias, prelu weights) themselves.
  inputs: Record<string, TensorInfo>;
  backend: MathBackendCPU;
  attrs: NamedAttrMap;
}

/** The Float32Array a cpu-backend tensor is stored in, or null when it is not plain float32 data. */
export function f32(backend: MathBackendCPU, t: TensorInfo | undefined): Float32Array | null {
  if (t?.dtype !== 'float32') return null;
  const values = backend.data.get(t.dataId).values;
  return values instanceof Float32Array ? values : null;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Wraps a fresh output array as a tensor owned by the backend. */
export function output(backend: MathBackendCPU, shape: number[], values: Float32Array): TensorInfo {
  return backend.makeTensorInfo(shape, 'float32', values);
}

/**
 * An uninitialised Float32Array for outputs the addon overwrites completely. `new Float32Array(n)`
 * zero-fills, which for activations of tens of MB is a whole extra pass over memory per op.
 */
export function allocOutput(n: number): Float32Array {
  if (n === 0) return new Float32Array(0);
  const buf = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(buf.buffer, buf.byteOffset, n);
}
