import { type Axis, extent, groupColor, histogramSvg, lossChartSvg, niceAxis, seriesStyle } from './charts';
import type { CollectedRuns, RunData, Stat, WeightsData } from './collect';
import { escapeHtml } from './escape';
import type { ViewCell, ViewGridData } from './view-grid';

export interface ReportData {
  title: string;
  notes?: string;
  runs: CollectedRuns;
  viewGrids: ViewGridData[];
  weights: WeightsData[];
  /** 'per-set' gives each weight histogram its own x axis; 'shared' (the default) one axis for all. */
  weightsAxis?: 'shared' | 'per-set';
  tables?: ReportTable[];
}

export interface ReportTable {
  name: string;
  columns: string[];
  rows: (string | number)[][];
  caption?: string;
}

/** Accuracy-like metrics are fractions in results.json and read best as percentages. */
function isPercent(metric: string): boolean {
  return /top\d|purity|acc|_R@\d/.test(metric);
}

/** Which way is better, or null where neither is (a chosen hyper-parameter such as linear_l2). */
function direction(metric: string): 'higher' | 'lower' | null {
  if (isPercent(metric) || /^nmi$/.test(metric)) return 'higher';
  if (/^(align|uniform|inertia)$|loss|error/.test(metric)) return 'lower';
  return null;
}

function formatValue(metric: string, value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return isPercent(metric) ? (100 * value).toFixed(2) : value.toPrecision(4);
}

function formatStat(metric: string, s: Stat | null, expected: number): string {
  if (s === null) return '<span class="muted">—</span>';
  const std = s.std === null ? '' : ` <span class="pm">± ${formatValue(metric, s.std)}</span>`;
  const n = s.n < expected ? ` <span class="muted" title="only ${s.n} of ${expected} runs report it">(n=${s.n})</span>` : '';
  return `${formatValue(metric, s.mean)}${std}${n}`;
}

function metricHeader(metric: string): string {
  return `${escapeHtml(metric)}${isPercent(metric) ? ' (%)' : ''}`;
}

function bestMeans(runs: CollectedRuns): Map<string, number> {
  const best = new Map<string, number>();
  for (const metric of runs.metrics) {
    const dir = direction(metric);
    if (dir === null) continue;
    const means = runs.arms.map((a) => a.metrics[metric]?.mean).filter((m): m is number => m !== undefined && Number.isFinite(m));
    // One arm is no comparison.
    if (means.length < 2) continue;
    best.set(metric, dir === 'higher' ? extent(means)[1] : extent(means)[0]);
  }
  return best;
}

function resultsTable(runs: CollectedRuns): string {
  const best = bestMeans(runs);
  const head = `<tr><th>arm</th><th class="num">seeds</th>${runs.metrics.map((m) => `<th class="num">${metricHeader(m)}</th>`).join('')}</tr>`;
  const armRows = runs.arms.map((arm, i) => {
    const { color } = seriesStyle(i);
    const cells = runs.metrics.map((m) => {
      const s = arm.metrics[m];
      const text = formatStat(m, s, arm.runs.length);
      const isBest = s !== null && best.get(m) === s.mean;
      return `<td class="num">${isBest ? `<strong>${text}</strong>` : text}</td>`;
    });
    return `<tr><td><span class="swatch" style="background:${color}"></span>${escapeHtml(arm.name)}</td><td class="num">${arm.runs.length}</td>${cells.join('')}</tr>`;
  });
  const baselineRows = runs.baselines.map((b) => {
    const n = Math.max(0, ...Object.values(b.metrics).map((s) => s?.n ?? 0));
    const cells = runs.metrics.map((m) => `<td class="num">${formatStat(m, b.metrics[m], n)}</td>`);
    return `<tr class="baseline"><td>${escapeHtml(b.name)}</td><td class="num">${n}</td>${cells.join('')}</tr>`;
  });
  const baselineBody =
    baselineRows.length === 0
      ? ''
      : `<tbody><tr class="group"><td colspan="${runs.metrics.length + 2}">baselines, measured in the same runs (distinct seeds)</td></tr>${baselineRows.join('')}</tbody>`;
  return `<table class="results"><thead>${head}</thead><tbody>${armRows.join('')}</tbody>${baselineBody}</table>`;
}

function runRow(arm: string, run: RunData, metrics: string[]): string {
  const last = run.loss[run.loss.length - 1];
  const values = metrics.map((m) => {
    const v = run.evaluations[0].metrics[m];
    return `<td class="num">${v === undefined ? '<span class="muted">—</span>' : formatValue(m, v)}</td>`;
  });
  return (
    `<tr><td>${escapeHtml(arm)}</td><td><code>${escapeHtml(run.dir)}</code></td><td class="num">${run.seed ?? '—'}</td>` +
    `<td>${escapeHtml(run.encoder)}</td><td class="num">${run.totalSteps ?? '—'}</td>` +
    `<td class="num">${last ? last.loss.toFixed(4) : '—'}</td>${values.join('')}</tr>`
  );
}

function perRunTable(runs: CollectedRuns): string {
  const head = `<tr><th>arm</th><th>run</th><th class="num">seed</th><th>encoder</th><th class="num">steps</th><th class="num">final loss</th>${runs.metrics.map((m) => `<th class="num">${metricHeader(m)}</th>`).join('')}</tr>`;
  const rows = runs.arms.flatMap((arm) => arm.runs.map((run) => runRow(arm.name, run, runs.metrics)));
  return `<details><summary>Per-run values</summary><table class="results"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table></details>`;
}

function lossSection(runs: CollectedRuns): string {
  const series = runs.arms.map((arm) => ({ name: arm.name, points: arm.curve }));
  if (series.every((s) => s.points.length === 0)) return '<h2>Training loss</h2><p class="muted">No run logged a finite training loss.</p>';
  return `<h2>Training loss</h2><p class="caption">Mean over each arm's seeds at every logged step; the band is ± one sample standard deviation.</p><figure>${lossChartSvg(series)}</figure>`;
}

function viewCaption(cell: ViewCell): string {
  const p = cell.params;
  // Multi-source stores mix sources, so the source leads whenever it is not the plain image variation.
  const lead = p.source === 'image' ? '' : `${p.source} · `;
  if (p.noiseLevel !== undefined) return `${lead}noise ${p.noiseLevel}`;
  if (p.strength !== undefined) return `${lead}strength ${p.strength}`;
  return p.source;
}

function viewTooltip(cell: ViewCell): string {
  const p = cell.params;
  return [`view k=${cell.k}`, `seed ${p.seed}`, `source ${p.source}`, p.guidanceScale === undefined ? '' : `guidance ${p.guidanceScale}`, p.prompt === undefined ? '' : `prompt "${p.prompt}"`].filter(Boolean).join(' · ');
}

function viewGridSection(grid: ViewGridData): string {
  const [height, width, channels] = grid.imageShape;
  // Small images (28x28) are drawn at a readable size with hard pixel edges instead of a blur.
  const zoom = Math.max(1, Math.ceil(84 / width));
  const size = `width="${width * zoom}" height="${height * zoom}"`;
  const head = `<tr><th>image</th>${Array.from({ length: grid.viewsPerImage }, (_, k) => `<th>view ${k + 1}</th>`).join('')}</tr>`;
  const rows = grid.rows.map((row) => {
    const cells = row.cells.map(
      (cell) =>
        `<td><figure class="view"><img src="${cell.src}" ${size} alt="${escapeHtml(`image ${row.index}, ${viewCaption(cell)}`)}" title="${escapeHtml(viewTooltip(cell))}"><figcaption>${escapeHtml(viewCaption(cell))}</figcaption></figure></td>`,
    );
    return `<tr><th class="row">#${row.index}</th>${cells.join('')}</tr>`;
  });
  const meta =
    `${escapeHtml(grid.generator)} views of ${escapeHtml(grid.dataset)} (${height}×${width}×${channels}), ${grid.viewsPerImage} per image; ` +
    `${grid.completeShards} of ${grid.shardCount} shards complete; <code>${escapeHtml(grid.dir)}</code>`;
  return `<h3>${escapeHtml(grid.name)}</h3><p class="caption">${meta}. Each row is one source image, its views ordered by noise level.</p><table class="views"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

interface Summary {
  mean: number;
  std: number;
  min: number;
  max: number;
  /** 5, 25, 50, 75 and 95 % (nearest rank). */
  quantiles: number[];
}

const QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.95];

function quantileOf(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

function summary(values: readonly number[]): Summary {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  const sorted = [...values].sort((a, b) => a - b);
  return { mean, std, min: sorted[0], max: sorted[n - 1], quantiles: QUANTILES.map((q) => quantileOf(sorted, q)) };
}

function statsLine(values: readonly number[]): string {
  const s = summary(values);
  const q = s.quantiles.map((v) => v.toFixed(3)).join(' / ');
  return `n ${values.length} · mean ${s.mean.toFixed(4)} · std ${s.std.toFixed(4)} · min ${s.min.toFixed(4)} · 5/25/50/75/95 % ${q} · max ${s.max.toFixed(4)}`;
}

/** The groups of one weight set sorted by name (so that one name keeps its colour in every figure), or the whole set as one. */
function groupsOf(w: WeightsData): { name: string; values: number[] }[] {
  if (!w.groups) return [{ name: w.name, values: w.values }];
  const byName = new Map<string, number[]>();
  for (const [i, g] of w.groups.entries()) {
    const list = byName.get(g) ?? [];
    list.push(w.values[i]);
    byName.set(g, list);
  }
  return [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, values]) => ({ name, values }));
}

// The axis ends here so that a few outliers (sharp γ puts a handful of pairs at 10x the mean) do not squeeze every other bar into one bin.
const AXIS_QUANTILE = 0.995;

/** An x axis over these values up to their 99.5 % quantile, and whether that cut any off. */
function weightAxis(values: readonly number[]): { axis: Axis; top: number; clipped: boolean } {
  const sorted = [...values].sort((a, b) => a - b);
  const top = quantileOf(sorted, AXIS_QUANTILE);
  return { axis: niceAxis(sorted[0], top, 5), top, clipped: top < sorted[sorted.length - 1] };
}

function weightsSection(weights: WeightsData[], perSet: boolean): string {
  // One x axis for every set, so that their spreads compare at a glance; or one each, where spreads differ tenfold.
  const shared = weightAxis(weights.flatMap((w) => w.values));
  const bins = 24;
  const blocks = weights.map((w) => {
    const own = perSet ? weightAxis(w.values) : shared;
    const cut = perSet && own.clipped ? `<br>axis cut at the ${100 * AXIS_QUANTILE} % quantile (${own.top.toFixed(3)}); larger weights count in the last bin` : '';
    const groups = groupsOf(w);
    const legend =
      w.groups === undefined
        ? statsLine(w.values)
        : `all: ${statsLine(w.values)}${groups.map((g, i) => `<br><span class="swatch" style="background:${groupColor(i)}"></span>${escapeHtml(g.name)}: ${statsLine(g.values)}`).join('')}`;
    return `<figure class="hist"><figcaption><strong>${escapeHtml(w.name)}</strong> <code>${escapeHtml(w.file)}</code><br>${legend}${cut}</figcaption>${histogramSvg(w.name, groups, own.axis, bins)}</figure>`;
  });
  const tail = perSet
    ? ' on one axis per set'
    : ` on a shared axis${shared.clipped ? `; the axis ends at the ${100 * AXIS_QUANTILE} % quantile of all weights (${shared.top.toFixed(3)}), and larger weights count in the last bin` : ''}`;
  return `<h2>Quality weights</h2><p class="caption">${bins} equal bins${tail}; the dashed line is the mean.</p><div class="hists">${blocks.join('')}</div>`;
}

function tableSection(table: ReportTable): string {
  const head = `<tr>${table.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const rows = table.rows.map((r) => `<tr>${r.map((c) => `<td${typeof c === 'number' ? ' class="num"' : ''}>${escapeHtml(String(c))}</td>`).join('')}</tr>`);
  const caption = table.caption ? `<p class="caption">${escapeHtml(table.caption)}</p>` : '';
  return `<h3>${escapeHtml(table.name)}</h3><table class="results"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>${caption}`;
}

function notesHtml(notes: string): string {
  return notes
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => `<p class="notes">${escapeHtml(p)}</p>`)
    .join('');
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1a1a1a;background:#fff;margin:24px auto;max-width:1120px;padding:0 16px}
h1{font-size:24px;margin:0 0 8px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px;margin:18px 0 4px}
table{border-collapse:collapse;margin:8px 0}th,td{padding:4px 10px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:middle}
th{background:#f4f4f4;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.baseline td{color:#555}tr.group td{background:#fafafa;color:#666;font-style:italic}
.muted{color:#888}.pm{color:#555}.caption{color:#555;margin:4px 0}.notes{white-space:pre-line}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
code{font:12px ui-monospace,"DejaVu Sans Mono",monospace;background:#f4f4f4;padding:1px 4px;border-radius:3px}
details{margin:8px 0}summary{cursor:pointer;color:#333}
figure{margin:8px 0}.chart text{font-size:11px;fill:#333}.chart .label{font-size:12px}.chart .legend{font-size:12px}
.chart .grid{stroke:#eee}.chart .axis{stroke:#444}.chart .curve{fill:none;stroke-width:2}.chart .band{opacity:.15;stroke:none}
.chart .bar{fill:#0072b2}.chart .mean{stroke:#d55e00;stroke-width:1.5;stroke-dasharray:5 3}
table.views td,table.views th{border:none;padding:2px 4px;text-align:center}table.views th.row{text-align:right;color:#555;font-weight:400}
figure.view{margin:0}figure.view img{image-rendering:pixelated;display:block;margin:0 auto;border:1px solid #ddd}figure.view figcaption{font-size:11px;color:#555}
.hists{display:flex;flex-wrap:wrap;gap:16px}figure.hist figcaption{font-size:12px;color:#444}
footer{margin-top:32px;color:#888;font-size:12px}
`;

/** The whole report as one HTML document: no scripts, no external files, the same bytes for the same inputs. */
export function renderReport(data: ReportData): string {
  const { runs } = data;
  const sections: string[] = [`<h1>${escapeHtml(data.title)}</h1>`];
  if (data.notes) sections.push(notesHtml(data.notes));
  sections.push(
    '<h2>Results</h2>',
    `<p class="caption">Mean ± sample standard deviation over seeds (the trained encoder of each run). Bold: the best arm in each column.</p>`,
    resultsTable(runs),
  );
  if (runs.descriptions.length > 0) {
    sections.push(`<details><summary>What the numbers are</summary><ul>${runs.descriptions.map((d) => `<li>${escapeHtml(d)}</li>`).join('')}</ul></details>`);
  }
  if (data.tables && data.tables.length > 0) sections.push('<h2>Tables</h2>', ...data.tables.map(tableSection));
  sections.push(perRunTable(runs), lossSection(runs));
  if (data.viewGrids.length > 0) sections.push('<h2>Generated views</h2>', ...data.viewGrids.map(viewGridSection));
  if (data.weights.length > 0) sections.push(weightsSection(data.weights, data.weightsAxis === 'per-set'));
  sections.push('<footer>Made by <code>genview report</code>.</footer>');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(data.title)}</title>
<style>${STYLE}</style>
</head>
<body>
${sections.join('\n')}
</body>
</html>
`;
}
