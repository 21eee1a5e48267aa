import type { CurvePoint } from './collect';
import { escapeHtml } from './escape';

/*
 * Hand-written SVG, because the report must open offline with no script. Every coordinate goes
 * through fixed-precision formatting so that the same inputs give the same bytes.
 */

/** Okabe-Ito, readable by colour-blind readers; yellow is left out as it vanishes on white. */
export const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000', '#999999'];
const DASHES = ['', '6 3', '2 3', '8 3 2 3'];

export function seriesStyle(i: number): { color: string; dash: string } {
  return { color: PALETTE[i % PALETTE.length], dash: DASHES[Math.floor(i / PALETTE.length) % DASHES.length] };
}

/** Loops rather than Math.min(...values): a spread of a long run's log or a dataset's weights overflows the stack. */
export function extent(values: Iterable<number>): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function fmt(x: number): string {
  const s = x.toFixed(2);
  return s === '-0.00' ? '0.00' : s;
}

export interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  /** Decimals that show the tick step exactly. */
  decimals: number;
}

/** Round tick values (1, 2 or 5 times a power of ten) that cover [min, max] with about `count` intervals. */
export function niceAxis(min: number, max: number, count = 5): Axis {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return niceAxis(0, 1, count);
  if (max <= min) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return niceAxis(min - pad, max + pad, count);
  }
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  // Multiplying the integer index (not accumulating) keeps 0.1 + 0.2-style drift out of the labels.
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(decimals)));
  return { lo: ticks[0], hi: ticks[ticks.length - 1], ticks, decimals };
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function scale(axis: Axis, from: number, to: number): (v: number) => number {
  return (v) => from + ((v - axis.lo) / (axis.hi - axis.lo)) * (to - from);
}

function axesSvg(frame: Frame, x: Axis, y: Axis, xLabel: string, yLabel: string): string {
  const { left, right, top, bottom } = frame;
  const sx = scale(x, left, right);
  const sy = scale(y, bottom, top);
  const parts: string[] = [];
  for (const t of y.ticks) {
    const py = fmt(sy(t));
    parts.push(`<line class="grid" x1="${fmt(left)}" y1="${py}" x2="${fmt(right)}" y2="${py}"/>`);
    parts.push(`<text class="tick" x="${fmt(left - 6)}" y="${py}" text-anchor="end" dominant-baseline="middle">${t.toFixed(y.decimals)}</text>`);
  }
  for (const t of x.ticks) {
    const px = fmt(sx(t));
    parts.push(`<line class="axis" x1="${px}" y1="${fmt(bottom)}" x2="${px}" y2="${fmt(bottom + 4)}"/>`);
    parts.push(`<text class="tick" x="${px}" y="${fmt(bottom + 16)}" text-anchor="middle">${t.toFixed(x.decimals)}</text>`);
  }
  parts.push(`<line class="axis" x1="${fmt(left)}" y1="${fmt(bottom)}" x2="${fmt(right)}" y2="${fmt(bottom)}"/>`);
  parts.push(`<line class="axis" x1="${fmt(left)}" y1="${fmt(top)}" x2="${fmt(left)}" y2="${fmt(bottom)}"/>`);
  parts.push(`<text class="label" x="${fmt((left + right) / 2)}" y="${fmt(bottom + 34)}" text-anchor="middle">${escapeHtml(xLabel)}</text>`);
  const cy = fmt((top + bottom) / 2);
  parts.push(`<text class="label" x="14" y="${cy}" text-anchor="middle" transform="rotate(-90 14 ${cy})">${escapeHtml(yLabel)}</text>`);
  return parts.join('');
}

export interface CurveSeries {
  name: string;
  points: CurvePoint[];
}

/** Mean training loss by step, one line per arm, with a band of ± one standard deviation over seeds. */
export function lossChartSvg(series: CurveSeries[]): string {
  const all = series.flatMap((s) => s.points);
  const width = 760;
  const legendRow = 18;
  const plotHeight = 320;
  const frame: Frame = { width, height: plotHeight + 20 + legendRow * series.length, left: 64, right: width - 16, top: 12, bottom: plotHeight - 44 };
  const [, lastStep] = extent(all.map((p) => p.step));
  const [yMin] = extent(all.map((p) => p.mean - (p.std ?? 0)));
  const [, yMax] = extent(all.map((p) => p.mean + (p.std ?? 0)));
  const x = niceAxis(0, lastStep, 6);
  const y = niceAxis(yMin, yMax, 5);
  const sx = scale(x, frame.left, frame.right);
  const sy = scale(y, frame.bottom, frame.top);
  const parts: string[] = [
    `<svg class="chart" width="${width}" height="${frame.height}" viewBox="0 0 ${width} ${frame.height}" role="img" aria-label="training loss by step">`,
    '<title>Training loss by step (mean over seeds, band: ± 1 std)</title>',
    axesSvg(frame, x, y, 'step', 'training loss'),
  ];
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const { color, dash } = seriesStyle(i);
    const banded = s.points.filter((p) => p.std !== null);
    if (banded.length > 1) {
      const upper = banded.map((p) => `${fmt(sx(p.step))},${fmt(sy(p.mean + (p.std ?? 0)))}`);
      const lower = banded.map((p) => `${fmt(sx(p.step))},${fmt(sy(p.mean - (p.std ?? 0)))}`).reverse();
      parts.push(`<polygon class="band" fill="${color}" points="${[...upper, ...lower].join(' ')}"/>`);
    }
    const line = s.points.map((p) => `${fmt(sx(p.step))},${fmt(sy(p.mean))}`).join(' ');
    const dashAttr = dash ? ` stroke-dasharray="${dash}"` : '';
    parts.push(`<polyline class="curve" stroke="${color}"${dashAttr} points="${line}"><title>${escapeHtml(s.name)}</title></polyline>`);
    if (s.points.length === 1) parts.push(`<circle cx="${fmt(sx(s.points[0].step))}" cy="${fmt(sy(s.points[0].mean))}" r="3" fill="${color}"/>`);
  });
  series.forEach((s, i) => {
    const { color, dash } = seriesStyle(i);
    const ly = plotHeight + 4 + i * legendRow;
    const dashAttr = dash ? ` stroke-dasharray="${dash}"` : '';
    const last = s.points[s.points.length - 1];
    const tail = last ? ` — final ${last.mean.toFixed(4)} at step ${last.step}` : ' — no loss logged';
    parts.push(`<line class="curve" stroke="${color}"${dashAttr} x1="${frame.left}" y1="${ly}" x2="${frame.left + 28}" y2="${ly}"/>`);
    parts.push(`<text class="legend" x="${frame.left + 36}" y="${ly}" dominant-baseline="middle">${escapeHtml(s.name + tail)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

export interface Histogram {
  edges: number[];
  counts: number[];
}

/** Equal-width bins over [axis.lo, axis.hi]; the last bin includes its right edge. */
export function histogram(values: readonly number[], lo: number, hi: number, bins: number): Histogram {
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  const counts = new Array<number>(bins).fill(0);
  // Scaling before dividing keeps a value on an edge (1.2 of [0.5, 1.5] in 10 bins) in the bin it starts; a rounded bin width puts it in the one before.
  for (const v of values) counts[Math.min(bins - 1, Math.max(0, Math.floor(((v - lo) * bins) / (hi - lo))))]++;
  return { edges, counts };
}

/** Colours of histogram groups: the palette without its orange, which the mean line uses. */
export function groupColor(i: number): string {
  const colors = PALETTE.filter((_, k) => k !== 1);
  return colors[i % colors.length];
}

export interface HistogramGroup {
  name: string;
  values: readonly number[];
}

/**
 * A histogram of one set of weights on a shared x axis, with the mean as a dashed line. With several
 * groups (clean and corrupted pairs, say), each bin holds one bar per group side by side, one colour each.
 */
export function histogramSvg(name: string, groups: readonly HistogramGroup[], x: Axis, bins: number): string {
  const width = 480;
  const height = 220;
  const frame: Frame = { width, height, left: 56, right: width - 12, top: 10, bottom: height - 44 };
  const hists = groups.map((g) => histogram(g.values, x.lo, x.hi, bins));
  const { edges } = hists[0];
  const total = groups.reduce((n, g) => n + g.values.length, 0);
  // At least 4 so that the count ticks are whole numbers.
  const y = niceAxis(0, Math.max(4, extent(hists.flatMap((h) => h.counts))[1]), 4);
  const sx = scale(x, frame.left, frame.right);
  const sy = scale(y, frame.bottom, frame.top);
  const parts: string[] = [
    `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(`histogram of ${name}`)}">`,
    `<title>${escapeHtml(`${name}: ${total} weights`)}</title>`,
    axesSvg(frame, x, y, 'weight', 'count'),
  ];
  const grouped = groups.length > 1;
  for (let i = 0; i < bins; i++) {
    const x0 = sx(edges[i]);
    const slot = (sx(edges[i + 1]) - x0) / groups.length;
    hists.forEach((h, g) => {
      const count = h.counts[i];
      if (count === 0) return;
      const top = sy(count);
      const fill = grouped ? ` style="fill:${groupColor(g)}"` : '';
      const label = `${grouped ? `${groups[g].name}, ` : ''}${edges[i].toFixed(x.decimals + 2)}–${edges[i + 1].toFixed(x.decimals + 2)}: ${count}`;
      parts.push(
        `<rect class="bar"${fill} x="${fmt(x0 + g * slot)}" y="${fmt(top)}" width="${fmt(Math.max(0, slot - (grouped ? 0 : 1)))}" height="${fmt(frame.bottom - top)}"><title>${escapeHtml(label)}</title></rect>`,
      );
    });
  }
  let sum = 0;
  for (const g of groups) for (const v of g.values) sum += v;
  const mean = sum / total;
  const mx = fmt(sx(Math.min(x.hi, mean)));
  parts.push(`<line class="mean" x1="${mx}" y1="${fmt(frame.top)}" x2="${mx}" y2="${fmt(frame.bottom)}"><title>mean ${mean.toFixed(4)}</title></line>`);
  parts.push('</svg>');
  return parts.join('');
}
