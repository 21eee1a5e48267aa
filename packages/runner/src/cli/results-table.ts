import type { TrainRunResult } from '../run/train';

/** The closing table of `genview train`: each encoder's numbers side by side with what they are. */
export function formatResultsTable(result: TrainRunResult): string {
  // Headline numbers only (top-1 per protocol); results.json and the eval lines hold the rest.
  const metricNames = [...new Set(result.evaluations.flatMap((e) => e.results.flatMap((r) => Object.keys(r.metrics))))].filter(
    (name) => /top1/.test(name) && !/val/.test(name),
  );
  const header = ['encoder', ...metricNames];
  const rows = result.evaluations.map((e) => {
    const values = Object.assign({}, ...e.results.map((r) => r.metrics)) as Record<string, number>;
    return [e.encoder, ...metricNames.map((m) => (values[m] === undefined ? '—' : `${(100 * values[m]).toFixed(2)}%`))];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  const descriptions = result.evaluations[0]?.results.map((r) => `  ${r.evaluator}: ${r.description}`) ?? [];
  return [
    `trained ${result.summary.steps} steps (total ${result.totalSteps}) in ${result.summary.seconds.toFixed(0)} s on ${result.backend.chosen}, ${result.summary.imagesPerSecond.toFixed(0)} img/s, final loss ${result.summary.finalLoss.toFixed(4)}`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    'what the numbers are:',
    ...descriptions,
  ].join('\n');
}
