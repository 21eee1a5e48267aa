import type { EncoderResults, TrainRunResult } from '../run/train';
import type { StagedRunSummary } from '../run/stages';

/** Each encoder's headline numbers (top-1 per protocol) side by side, with what they are. */
export function formatEvaluationsTable(evaluations: readonly EncoderResults[], heading: string): string {
  // Headline numbers only; results.json and the eval lines hold the rest.
  const metricNames = [...new Set(evaluations.flatMap((e) => e.results.flatMap((r) => Object.keys(r.metrics))))].filter((name) => /top1/.test(name) && !/val/.test(name));
  const header = ['encoder', ...metricNames];
  const rows = evaluations.map((e) => {
    const values = Object.assign({}, ...e.results.map((r) => r.metrics)) as Record<string, number>;
    return [e.encoder, ...metricNames.map((m) => (values[m] === undefined ? '—' : `${(100 * values[m]).toFixed(2)}%`))];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  // Each protocol once, as its first row ran it; a row of its own (a frozen fine-tuning baseline) adds its protocol.
  const described = new Map<string, string>();
  for (const r of evaluations.flatMap((e) => e.results)) if (!described.has(r.evaluator)) described.set(r.evaluator, r.description);
  const descriptions = [...described].map(([evaluator, description]) => `  ${evaluator}: ${description}`);
  return [heading, '', line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), '', 'what the numbers are:', ...descriptions].join('\n');
}

/** The closing table of `genview train`: each encoder's numbers side by side with what they are. */
export function formatResultsTable(result: TrainRunResult): string {
  return formatEvaluationsTable(
    result.evaluations,
    `trained ${result.summary.steps} steps (total ${result.totalSteps}) in ${result.summary.seconds.toFixed(0)} s on ${result.backend.chosen}, ${result.summary.imagesPerSecond.toFixed(0)} img/s, final loss ${result.summary.finalLoss.toFixed(4)}`,
  );
}

/** Where a multi-stage run's stages are, with the numbers each finished stage reported (MCL: k-means). */
export function formatStagesLine(stages: StagedRunSummary, outDir: string): string {
  const reported = stages.perStage
    .map((s) => {
      const facts = Object.entries(s).filter(([key, value]) => !['stage', 'dir', 'steps', 'startStep', 'finalLoss', 'seconds'].includes(key) && value !== null && value !== undefined);
      return facts.length > 0 ? `stage ${s.stage}: ${facts.map(([key, value]) => `${key} ${formatFact(value)}`).join(', ')}` : undefined;
    })
    .filter((s): s is string => s !== undefined);
  return `${stages.framework}: ${stages.count} stages of ${stages.stepsPerStage.join(' + ')} steps in ${outDir}/stage-1..stage-${stages.count} (checkpoints, metrics, stage files)${reported.length > 0 ? ` · ${reported.join(' · ')}` : ''}`;
}

function formatFact(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  if (typeof value === 'object' && value !== null) {
    return `{ ${Object.entries(value as Record<string, unknown>)
      .filter(([key]) => key !== 'file')
      .map(([key, v]) => `${key} ${formatFact(v)}`)
      .join(', ')} }`;
  }
  return String(value);
}
