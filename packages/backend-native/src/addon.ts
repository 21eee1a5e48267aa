import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { buildHint } from './build-hint';

/** Conv geometry in the order the addon reads it (see native/genview_native.cc, ConvParams). */
export type ConvParamList = [
  batch: number,
  inH: number,
  inW: number,
  inC: number,
  outH: number,
  outW: number,
  outC: number,
  fH: number,
  fW: number,
  strideH: number,
  strideW: number,
  dilH: number,
  dilW: number,
  padTop: number,
  padLeft: number,
];

export interface AddonInfo {
  /** The GEMM the kernels run: 'openblas', or our own 'avx512' / 'avx2' / 'generic'. */
  gemm: string;
  /** Every GEMM this build and CPU can run, best first. */
  gemmImplementations: string[];
  /** OpenBLAS's configuration when the addon was linked against it, else ''. */
  blas: string;
  core: string;
  blasThreads: number;
  loopThreads: number;
}

/** The functions exported by the compiled addon; all write into caller-owned Float32Arrays. */
export interface NativeAddon {
  conv2d(x: Float32Array, w: Float32Array, y: Float32Array, p: ConvParamList): void;
  /** Writes every element of dx (no need to zero it first). */
  conv2dBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, p: ConvParamList): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, p: ConvParamList): void;
  batchMatMul(
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
    batchA: number,
    batchB: number,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
  ): void;
  /** Training-mode batch norm of an [rows, C] array: writes y (clamped at 0 with relu), the batch mean and the biased variance. */
  batchNormForward(
    x: Float32Array,
    scale: Float32Array,
    offset: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    rows: number,
    channels: number,
    eps: number,
    relu?: boolean,
  ): void;
  /** Its gradient through the batch statistics (and, given the ReLU's output y, through the ReLU): writes dx, dscale and doffset. */
  batchNormBackward(
    dy: Float32Array,
    x: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    scale: Float32Array,
    dx: Float32Array,
    dscale: Float32Array,
    doffset: Float32Array,
    rows: number,
    channels: number,
    eps: number,
    reluOutput?: Float32Array,
  ): void;
  reduceSum(x: Float32Array, out: Float32Array, outer: number, reduce: number, inner: number, mean: boolean): void;
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, shape: number[], aStrides: number[], bStrides: number[]): void;
  unary(op: number, x: Float32Array, out: Float32Array): void;
  biasActivation(y: Float32Array, bias: Float32Array | null, rows: number, inner: number, relu: boolean): void;
  /** One Adam step over a variable (see @genview/core's ADAM_UPDATE_KERNEL): writes wOut, mOut and vOut. */
  adamUpdate(
    w: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    wOut: Float32Array,
    mOut: Float32Array,
    vOut: Float32Array,
    beta1: number,
    beta2: number,
    eps: number,
    stepSize: number,
    sqrtBiasCorrection2: number,
    l2: number,
    decayFactor: number,
  ): void;
  info(): AddonInfo;
  /** Raises glibc's mmap/trim thresholds so freed tensor buffers are reused; false where not glibc. */
  tuneMalloc(): boolean;
  setThreads(n: number): void;
  /** Switches the GEMM the kernels use; false when `name` is not one of info().gemmImplementations. */
  selectGemm(name: string): boolean;
  /** One row-major product c = alpha op(a) op(b) + beta c through a named GEMM; false when unknown here. */
  sgemm(
    impl: string,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
    alpha: number,
    beta: number,
  ): boolean;
}

/**
 * Where the compiled addon may be. The same relative path works from src/ (tests run the sources) and
 * from dist/ (the built package), since both sit one level below the package root.
 */
function candidates(): string[] {
  const fromEnv = process.env.GENVIEW_NATIVE_ADDON;
  const list = fromEnv ? [fromEnv] : [];
  for (const config of ['Release', 'Debug']) {
    list.push(fileURLToPath(new URL(`../build/${config}/genview_native.node`, import.meta.url)));
  }
  return list;
}

let cached: NativeAddon | null = null;

/** Loads the addon once; throws an Error saying how to build it when it is missing or unloadable. */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const paths = candidates();
  const found = paths.find((p) => existsSync(p));
  if (!found) {
    // The reason and fix come first: the backend ladder keeps only the first 200 characters.
    throw new Error(`addon not built: ${buildHint()} (looked in ${paths.join(', ')}).`);
  }
  const require = createRequire(import.meta.url);
  try {
    cached = require(found) as NativeAddon;
  } catch (error) {
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new Error(`addon failed to load; fix: rebuild it with \`npm run build:native -w @genview/backend-native\` (${found}: ${why}).`);
  }
  return cached;
}
