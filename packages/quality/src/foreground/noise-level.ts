import { GenviewError, type Tensor3D, z } from '@genview/core';
import type { ForegroundDirection } from './direction';
import { foregroundRatios } from './masks';

/**
 * GenView's adaptive noise level: the foreground ratio r is binned, and the bigger the subject, the
 * more unCLIP embedding noise its generated view may take (a small subject gets little noise so it
 * survives). Exported so a conditioning plugin in another package uses the very same mapping.
 */
export interface NoiseLevelBins {
  /** Increasing upper bounds, inclusive: r ≤ edges[i] (and above edges[i−1]) gets levels[i]. */
  readonly edges: readonly number[];
  /** One more than edges; the last applies above the last edge. Each in 0..999. */
  readonly levels: readonly number[];
}

/** GenView's mapping: ≤ 0.2 → 0, ≤ 0.4 → 100, ≤ 0.6 → 200, ≤ 0.8 → 300, else 400. */
export const GENVIEW_NOISE_BINS: NoiseLevelBins = Object.freeze({
  edges: Object.freeze([0.2, 0.4, 0.6, 0.8]),
  levels: Object.freeze([0, 100, 200, 300, 400]),
});

function binsProblem(bins: { edges: readonly number[]; levels: readonly number[] }): string | undefined {
  if (bins.levels.length !== bins.edges.length + 1) {
    return `levels must have one entry more than edges (${bins.edges.length} edges, ${bins.levels.length} levels).`;
  }
  for (let i = 0; i < bins.edges.length; i++) {
    if (!Number.isFinite(bins.edges[i])) return `edges[${i}] must be a finite number.`;
    if (i > 0 && !(bins.edges[i] > bins.edges[i - 1])) return `edges must increase strictly (edges[${i}] = ${bins.edges[i]}).`;
  }
  for (let i = 0; i < bins.levels.length; i++) {
    const l = bins.levels[i];
    if (!Number.isInteger(l) || l < 0 || l > 999) return `levels[${i}] = ${l} must be an integer noise level in 0..999.`;
  }
  return undefined;
}

/** Config schema for bins, for plugins that let users change the mapping; defaults to GenView's. */
export const noiseLevelBinsSchema = z
  .object({
    edges: z.array(z.number()),
    levels: z.array(z.number().int().min(0).max(999)).min(1),
  })
  .strict()
  .superRefine((bins, ctx) => {
    const problem = binsProblem(bins);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .default({ edges: [...GENVIEW_NOISE_BINS.edges], levels: [...GENVIEW_NOISE_BINS.levels] });

export function validateNoiseLevelBins(bins: NoiseLevelBins, where = 'noise level bins'): void {
  const problem = binsProblem(bins);
  if (problem) {
    throw new GenviewError('INVALID_CONFIG', problem, {
      where,
      fix: 'e.g. { edges: [0.2, 0.4, 0.6, 0.8], levels: [0, 100, 200, 300, 400] } (GenView).',
    });
  }
}

function levelFor(ratio: number, bins: NoiseLevelBins): number {
  if (!Number.isFinite(ratio)) {
    throw new GenviewError('BAD_INPUT', `a foreground ratio must be a finite number, got ${ratio}.`, { where: 'noiseLevelForRatio' });
  }
  for (let i = 0; i < bins.edges.length; i++) if (ratio <= bins.edges[i]) return bins.levels[i];
  return bins.levels[bins.edges.length];
}

/** The noise level for one foreground ratio in [0, 1]. */
export function noiseLevelForRatio(ratio: number, bins: NoiseLevelBins = GENVIEW_NOISE_BINS): number {
  validateNoiseLevelBins(bins);
  return levelFor(ratio, bins);
}

/** Noise levels for many ratios. */
export function noiseLevelsForRatios(ratios: ArrayLike<number>, bins: NoiseLevelBins = GENVIEW_NOISE_BINS): Int32Array {
  validateNoiseLevelBins(bins);
  return Int32Array.from(Array.from(ratios, (r) => levelFor(r, bins)));
}

/** Patch tokens [N, T, D] → each image's adaptive noise level (hard mask → ratio → bin). */
export function adaptiveNoiseLevels(tokens: Tensor3D, direction: ForegroundDirection, bins: NoiseLevelBins = GENVIEW_NOISE_BINS): Int32Array {
  return noiseLevelsForRatios(foregroundRatios(tokens, direction), bins);
}
