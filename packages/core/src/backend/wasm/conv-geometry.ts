import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { KernelScope } from './kernel-scope';

/** The forward kernels the backprop kernels are rewritten into; both run on XNNPACK in the wasm backend. */
export type ForwardConv = 'Conv2D' | 'DepthwiseConv2dNative';

/** Pads that may be negative: a negative pad crops that many rows (or columns) of the input. */
export interface SignedPads {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

interface AxisWindow {
  begin: number;
  size: number;
  padBefore: number;
  padAfter: number;
}

/**
 * Splits a signed padding of one axis into a crop of the input and non-negative pads, because XNNPACK
 * takes only non-negative pads. Null means the padded window holds no input at all (the result is zero).
 */
function axisWindow(length: number, before: number, after: number): AxisWindow | null {
  const extent = length + before + after;
  const begin = Math.max(0, -before);
  const end = Math.min(length, length + after);
  if (end <= begin) return null;
  return { begin, size: end - begin, padBefore: begin + before, padAfter: extent - (end + before) };
}

/**
 * A forward conv (NHWC) with signed pads, whose output size the caller already knows: the pads are
 * always chosen so that the padded extent yields exactly `outH` x `outW`.
 */
export function convSigned(
  scope: KernelScope,
  kind: ForwardConv,
  x: TensorInfo,
  filter: TensorInfo,
  pads: SignedPads,
  strides: [number, number],
  dilations: [number, number],
  outH: number,
  outW: number,
): TensorInfo {
  const [batch, height, width, channels] = x.shape;
  const outChannels = kind === 'Conv2D' ? filter.shape[3] : channels * filter.shape[3];
  const rows = axisWindow(height, pads.top, pads.bottom);
  const cols = axisWindow(width, pads.left, pads.right);
  if (rows == null || cols == null || outH <= 0 || outW <= 0) return scope.zeros([batch, Math.max(outH, 0), Math.max(outW, 0), outChannels]);
  const cropped = scope.slice(x, [0, rows.begin, cols.begin, 0], [batch, rows.size, cols.size, channels]);
  const pad = [
    [0, 0],
    [rows.padBefore, rows.padAfter],
    [cols.padBefore, cols.padAfter],
    [0, 0],
  ];
  const out = scope.run(kind, { x: cropped, filter }, { strides, dilations, pad, dataFormat: 'NHWC', dimRoundingMode: 'floor' });
  if (out.shape[1] !== outH || out.shape[2] !== outW) {
    throw new Error(`GenView wasm conv rewrite: expected ${outH}x${outW}, got ${out.shape[1]}x${out.shape[2]} (a padding bug).`);
  }
  return out;
}

/** A filter as host values [KH, KW, A, B], read once so every phase's sub-filter is a cheap JS copy. */
export interface HostFilter {
  values: Float32Array;
  shape: [number, number, number, number];
  /** Swap A and B in the sub-filters (a conv's [Cin, Cout] becomes the transposed conv's [Cout, Cin]). */
  swapInner: boolean;
}

export interface TransposedConv {
  kind: ForwardConv;
  /** The output gradient, [N, OH, OW, C]. */
  dy: TensorInfo;
  filter: HostFilter;
  /** Spatial size of the input gradient. */
  height: number;
  width: number;
  strides: [number, number];
  dilations: [number, number];
  /** The forward conv's top and left pads. */
  padTop: number;
  padLeft: number;
}

interface AxisPhase {
  /** Taps k = residue + s*t of the original filter meet this phase. */
  residue: number;
  taps: number;
  before: number;
  after: number;
}

/**
 * One phase per output residue modulo the stride. Rows h = s*q + r of the input gradient only meet the
 * filter taps k with k = (r + pad) mod s, so each phase is a stride-1 conv of dy with that sub-filter:
 * no zero-inserted dy and no multiplications by zero (a stride-2 layer would otherwise cost 4x).
 */
function axisPhases(kernel: number, stride: number, dilation: number, pad: number, inLength: number, outLength: number): AxisPhase[] {
  const rowsPerPhase = Math.ceil(inLength / stride);
  const phases: AxisPhase[] = [];
  for (let r = 0; r < stride; r++) {
    const residue = (r + pad) % stride;
    const delta = Math.floor((r + pad) / stride);
    const taps = residue < kernel ? Math.ceil((kernel - residue) / stride) : 0;
    const before = (taps - 1) * dilation - delta;
    const after = rowsPerPhase + (taps - 1) * dilation - outLength - before;
    phases.push({ residue, taps, before, after });
  }
  return phases;
}

/**
 * The sub-filter of one phase, spatially flipped (a transposed conv correlates with the reversed taps)
 * and with its inner axes swapped when asked. Filters are small, so a JS copy beats the wasm
 * Reverse/StridedSlice kernels, which loop per element.
 */
function phaseFilter(scope: KernelScope, filter: HostFilter, rows: AxisPhase, cols: AxisPhase, strides: [number, number]): TensorInfo {
  const [, kw, a, b] = filter.shape;
  const inner = a * b;
  const out = new Float32Array(rows.taps * cols.taps * inner);
  for (let t = 0; t < rows.taps; t++) {
    const ki = rows.residue + strides[0] * (rows.taps - 1 - t);
    for (let u = 0; u < cols.taps; u++) {
      const kj = cols.residue + strides[1] * (cols.taps - 1 - u);
      const src = (ki * kw + kj) * inner;
      const dst = (t * cols.taps + u) * inner;
      if (!filter.swapInner || a === 1 || b === 1) out.set(filter.values.subarray(src, src + inner), dst);
      else {
        for (let i = 0; i < a; i++) {
          for (let j = 0; j < b; j++) out[dst + j * a + i] = filter.values[src + i * b + j];
        }
      }
    }
  }
  return scope.write(out, filter.swapInner ? [rows.taps, cols.taps, b, a] : [rows.taps, cols.taps, a, b]);
}

/** The input gradient of a conv as forward convs of dy with the flipped filter, interleaved by phase. */
export function transposedConv(scope: KernelScope, spec: TransposedConv): TensorInfo {
  const { kind, dy, filter, height, width, strides, dilations } = spec;
  const [sh, sw] = strides;
  const [kh, kw, fa, fb] = filter.shape;
  const [batch, outH, outW] = dy.shape;
  const rowPhases = axisPhases(kh, sh, dilations[0], spec.padTop, height, outH);
  const colPhases = axisPhases(kw, sw, dilations[1], spec.padLeft, width, outW);
  const qh = Math.ceil(height / sh);
  const qw = Math.ceil(width / sw);
  const channels = kind === 'Conv2D' ? (filter.swapInner ? fa : fb) : fa * fb;
  const rows: TensorInfo[] = [];
  for (const rp of rowPhases) {
    const cols: TensorInfo[] = [];
    for (const cp of colPhases) {
      let phase: TensorInfo;
      if (rp.taps === 0 || cp.taps === 0) phase = scope.zeros([batch, qh, qw, channels]);
      else {
        const sub = phaseFilter(scope, filter, rp, cp, strides);
        const pads = { top: rp.before, bottom: rp.after, left: cp.before, right: cp.after };
        phase = convSigned(scope, kind, dy, sub, pads, [1, 1], dilations, qh, qw);
      }
      cols.push(sh === 1 && sw === 1 ? phase : scope.reshape(phase, [batch, qh, 1, qw, 1, channels]));
    }
    rows.push(cols.length === 1 ? cols[0] : scope.run('Concat', cols, { axis: 4 }));
  }
  if (sh === 1 && sw === 1) return rows[0];
  const stacked = rows.length === 1 ? rows[0] : scope.run('Concat', rows, { axis: 2 });
  const interleaved = scope.reshape(stacked, [batch, qh * sh, qw * sw, channels]);
  return scope.slice(interleaved, [0, 0, 0, 0], [batch, height, width, channels]);
}
