import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc } from '@tensorflow/tfjs-core';
import { type NativeAddon, loadAddon } from './addon';
import {
  conv2dBackpropFilterKernel,
  conv2dBackpropInputKernel,
  conv2dKernel,
  fusedConv2dKernel,
} from './kernels/conv';
import {
  BATCH_NORM_RELU_TRAINING,
  BATCH_NORM_RELU_TRAINING_GRAD,
  BATCH_NORM_TRAINING,
  BATCH_NORM_TRAINING_GRAD,
  batchNormTrainingGradKernel,
  batchNormTrainingKernel,
} from './kernels/batch-norm';
import { BinaryOp, UnaryOp, binaryKernel, unaryKernel } from './kernels/elementwise';
import { batchMatMulKernel, fusedMatMulKernel } from './kernels/matmul';
import { ADAM_UPDATE, adamUpdateKernel } from './kernels/optimizer';
import { meanKernel, sumKernel } from './kernels/reduce';
import { sliceKernel, splitVKernel, transposeKernel } from './kernels/layout';
import { unsortedSegmentSumKernel } from './kernels/segment-sum';
import { clipByValueKernel, mirrorPadKernel } from './kernels/pad-clip';
import type { KernelContext } from './kernels/util';

/** The tfjs backend name this package registers. */
export const NATIVE_BACKEND_NAME = 'genview-native';

/** Above cpu (1) and wasm (2), so plain tfjs code without setBackend also picks it once registered. */
const PRIORITY = 3;

/**
 * The cpu backend with its first-use console advice switched off: its storage (Float32Arrays per
 * tensor) is what the native kernels read and write, and libraries must not print.
 */
class NativeCpuBackend extends MathBackendCPU {
  constructor() {
    super();
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }
}

type Factory = (ctx: KernelContext) => KernelFunc;

/**
 * Kernels that replace the stock cpu ones: the hot ones run in the addon; UnsortedSegmentSum, Slice, SplitV,
 * Transpose, MirrorPad and ClipByValue are plain JS, but linear passes instead of the stock per-element index arithmetic. Everything else is the stock cpu kernel under the new name.
 */
const NATIVE_KERNELS: Record<string, Factory> = {
  Conv2D: conv2dKernel,
  Conv2DBackpropInput: conv2dBackpropInputKernel,
  Conv2DBackpropFilter: conv2dBackpropFilterKernel,
  FusedConv2D: fusedConv2dKernel,
  BatchMatMul: batchMatMulKernel,
  _FusedMatMul: fusedMatMulKernel,
  Sum: sumKernel,
  Mean: meanKernel,
  Add: (ctx) => binaryKernel(ctx, BinaryOp.add),
  Sub: (ctx) => binaryKernel(ctx, BinaryOp.sub),
  Multiply: (ctx) => binaryKernel(ctx, BinaryOp.mul),
  RealDiv: (ctx) => binaryKernel(ctx, BinaryOp.div),
  SquaredDifference: (ctx) => binaryKernel(ctx, BinaryOp.squaredDifference),
  Relu: (ctx) => unaryKernel(ctx, UnaryOp.relu),
  Step: (ctx) => unaryKernel(ctx, UnaryOp.step),
  Square: (ctx) => unaryKernel(ctx, UnaryOp.square),
  Sqrt: (ctx) => unaryKernel(ctx, UnaryOp.sqrt),
  Rsqrt: (ctx) => unaryKernel(ctx, UnaryOp.rsqrt),
  Neg: (ctx) => unaryKernel(ctx, UnaryOp.neg),
  Exp: (ctx) => unaryKernel(ctx, UnaryOp.exp),
  UnsortedSegmentSum: unsortedSegmentSumKernel,
  Slice: sliceKernel,
  SplitV: splitVKernel,
  Transpose: transposeKernel,
  MirrorPad: mirrorPadKernel,
  ClipByValue: clipByValueKernel,
};

/**
 * Kernels the cpu backend has no counterpart of: the fused training-mode batch norm and Adam step that
 * @genview/core's batchNormTraining and adamUpdate run when the backend offers them (and compose from
 * ops otherwise).
 */
const FUSED_KERNELS: Record<string, (addon: NativeAddon) => KernelFunc> = {
  [BATCH_NORM_TRAINING]: (addon) => batchNormTrainingKernel(addon),
  [BATCH_NORM_TRAINING_GRAD]: (addon) => batchNormTrainingGradKernel(addon),
  [BATCH_NORM_RELU_TRAINING]: (addon) => batchNormTrainingKernel(addon, true),
  [BATCH_NORM_RELU_TRAINING_GRAD]: (addon) => batchNormTrainingGradKernel(addon, true),
  [ADAM_UPDATE]: adamUpdateKernel,
};

/** Names of the kernels that run natively (for reports and tests). */
export const NATIVE_KERNEL_NAMES: readonly string[] = [...Object.keys(NATIVE_KERNELS), ...Object.keys(FUSED_KERNELS)];

/**
 * GENVIEW_NATIVE_KERNELS narrows the native set (comma-separated kernel names, or `gemm` for the
 * convolution and matmul kernels only), so a wrong or slow kernel can be isolated without a rebuild.
 */
function selectedKernels(): Set<string> {
  const env = process.env.GENVIEW_NATIVE_KERNELS?.trim();
  if (!env || env === 'all') return new Set(NATIVE_KERNEL_NAMES);
  if (env === 'none') return new Set();
  if (env === 'gemm') {
    return new Set(['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'FusedConv2D', 'BatchMatMul', '_FusedMatMul']);
  }
  return new Set(env.split(',').map((s) => s.trim()));
}

let registered: NativeAddon | null = null;

/**
 * Loads the addon and registers the 'genview-native' backend: every kernel the cpu backend has, with
 * the hot ones replaced by native code. Idempotent. Throws when the addon is not built.
 */
export async function registerNativeBackend(): Promise<void> {
  if (registered) return;
  const addon = loadAddon();
  const threads = Number(process.env.GENVIEW_NATIVE_THREADS ?? '');
  if (Number.isInteger(threads) && threads > 0) addon.setThreads(threads);
  // Heap reuse for big tensor buffers (see tuneMalloc in the addon); GENVIEW_NATIVE_MALLOC=0 opts out.
  if (process.env.GENVIEW_NATIVE_MALLOC !== '0') addon.tuneMalloc();
  const selected = selectedKernels();
  const stock = tf.getKernelsForBackend('cpu');
  if (stock.length === 0) throw new Error('@genview/backend-native: the tfjs cpu backend registered no kernels.');
  for (const config of stock) {
    // Another copy of this package (e.g. the built one loaded by the backend ladder beside the sources
    // in tests) may have registered first; this copy's kernels replace it, quietly.
    if (tf.getKernel(config.kernelName, NATIVE_BACKEND_NAME)) tf.unregisterKernel(config.kernelName, NATIVE_BACKEND_NAME);
    const factory = selected.has(config.kernelName) ? NATIVE_KERNELS[config.kernelName] : undefined;
    const kernelFunc = factory ? factory({ addon, fallback: config.kernelFunc }) : config.kernelFunc;
    tf.registerKernel({ ...config, backendName: NATIVE_BACKEND_NAME, kernelFunc });
  }
  for (const [kernelName, factory] of Object.entries(FUSED_KERNELS)) {
    if (tf.getKernel(kernelName, NATIVE_BACKEND_NAME)) tf.unregisterKernel(kernelName, NATIVE_BACKEND_NAME);
    // Callers check for these kernels before running them, so an unselected one is simply absent.
    if (selected.has(kernelName)) tf.registerKernel({ kernelName, backendName: NATIVE_BACKEND_NAME, kernelFunc: factory(addon) });
  }
  if (!tf.findBackendFactory(NATIVE_BACKEND_NAME)) {
    tf.registerBackend(NATIVE_BACKEND_NAME, () => new NativeCpuBackend(), PRIORITY);
  }
  registered = addon;
}

export interface NativeBackendInfo {
  /** Backend name to pass to tf.setBackend. */
  backendName: string;
  /**
   * The matrix multiply under the convolutions and matmuls: 'openblas' when the addon was built
   * against the system's OpenBLAS, otherwise the addon's own GEMM with the micro-kernel picked for
   * this CPU ('avx512', 'avx2' or the portable 'generic').
   */
  gemm: string;
  /** Every GEMM this build and CPU can run, best first (GENVIEW_NATIVE_GEMM or selectNativeGemm picks one). */
  gemmImplementations: string[];
  /** OpenBLAS's build configuration, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ...", or '' when not linked. */
  blas: string;
  /** CPU kernel OpenBLAS selected at run time (e.g. Haswell), or '' when not linked. */
  core: string;
  /** Threads OpenBLAS uses for gemm (0 when not linked). */
  blasThreads: number;
  /** Threads the addon's own loops (im2col, reductions, elementwise) use. */
  loopThreads: number;
  /** Kernels that run natively. */
  nativeKernels: string[];
}

/** Describes the loaded addon; throws like registerNativeBackend when it is not built. */
export function nativeBackendInfo(): NativeBackendInfo {
  const addon = registered ?? loadAddon();
  const info = addon.info();
  const selected = selectedKernels();
  return {
    backendName: NATIVE_BACKEND_NAME,
    gemm: info.gemm,
    gemmImplementations: info.gemmImplementations,
    blas: info.blas.trim(),
    core: info.core.trim(),
    blasThreads: info.blasThreads,
    loopThreads: info.loopThreads,
    nativeKernels: NATIVE_KERNEL_NAMES.filter((k) => selected.has(k)),
  };
}

/** Sets the thread count for OpenBLAS and the addon's loops (default: all cores, at most 8). */
export function setNativeThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`setNativeThreads: expected a positive integer, got ${threads}.`);
  (registered ?? loadAddon()).setThreads(threads);
}

/**
 * Makes the native kernels use another GEMM (one of nativeBackendInfo().gemmImplementations), e.g. to
 * compare OpenBLAS with the built-in one; throws, naming the choices, for one this build lacks.
 */
export function selectNativeGemm(name: string): void {
  const addon = registered ?? loadAddon();
  if (!addon.selectGemm(name)) {
    throw new Error(`selectNativeGemm: '${name}' is not available here; choose one of ${addon.info().gemmImplementations.join(', ')}.`);
  }
}

/** Whether the addon is built and loadable here, without registering anything. */
export function isNativeAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}
