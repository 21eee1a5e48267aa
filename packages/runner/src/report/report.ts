import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isGenviewError, writeFileAtomic } from '@genview/core';
import { collectRuns, readQualityWeights } from './collect';
import { type ReportData, renderReport } from './html';
import { type ReportSpec, type ReportSpecInput, loadReportSpec, parseReportSpec } from './spec';
import { readViewGrid } from './view-grid';

export interface BuildReportOptions {
  outFile: string;
  /** Where relative run, store and weight paths start; the spec file's folder when run from the CLI. */
  baseDir?: string;
}

export interface BuildReportResult {
  outFile: string;
  bytes: number;
  data: ReportData;
}

/** Reads everything the spec names and writes the HTML report; a failure leaves any previous report in place. */
export async function buildReport(spec: ReportSpec | ReportSpecInput, options: BuildReportOptions): Promise<BuildReportResult> {
  const parsed = parseReportSpec(spec);
  const baseDir = options.baseDir ?? process.cwd();
  const runs = await collectRuns(parsed, baseDir);
  // One store at a time: each decodes shards into memory, and a report shows only a handful of images.
  const viewGrids = [];
  for (const entry of parsed.viewStores) viewGrids.push(await readViewGrid(entry, baseDir));
  const weights = await Promise.all(parsed.qualityWeights.map((entry) => readQualityWeights(entry, baseDir)));
  const data: ReportData = { title: parsed.title, notes: parsed.notes, runs, viewGrids, weights };
  const html = renderReport(data);
  const outFile = resolve(options.outFile);
  await mkdir(dirname(outFile), { recursive: true });
  await writeFileAtomic(outFile, html);
  return { outFile, bytes: Buffer.byteLength(html), data };
}

export const REPORT_HELP = `genview report --spec report.yaml --out report.html

Writes one self-contained HTML page (no scripts, no external files) comparing experiment arms:
mean ± std over seeds of each metric with the baselines, training loss curves, generated views from
view stores, and quality-weight histograms. Relative paths in the spec start at the spec's folder.

Spec (YAML or JSON):
  title: GenView on Fashion-MNIST
  arms:
    - name: MoCo v2 baseline
      runs: [runs/moco-s0, runs/moco-s1, runs/moco-s2]
    - name: + generated views, adaptive noise
      runs: [runs/adaptive-s0, runs/adaptive-s1, runs/adaptive-s2]
  metrics: [knn_top1@20, linear_top1]       # optional; default: every top-1 kNN and linear-probe metric
  viewStores: [{ name: unCLIP views, dir: views/fmnist, images: 6 }]   # optional
  qualityWeights: [{ name: fg/bg weights, file: weights.json }]         # optional; a JSON array of numbers
  notes: free text shown under the title                                 # optional
`;

interface Writable {
  write(chunk: string): unknown;
}

/** `genview report`; returns the exit code (0 written, 1 usage, 2 a problem with the spec or its inputs). */
export async function reportCommand(args: string[], out: Writable, err: Writable = out): Promise<number> {
  let values: { spec?: string; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      allowPositionals: false,
      options: { spec: { type: 'string' }, out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (error) {
    err.write(`genview report: ${(error as Error).message}\n\n${REPORT_HELP}`);
    return 1;
  }
  if (values.help) {
    out.write(REPORT_HELP);
    return 0;
  }
  if (!values.spec || !values.out) {
    err.write(`genview report: ${values.spec ? '--out' : '--spec'} is required.\n\n${REPORT_HELP}`);
    return 1;
  }
  try {
    const spec = loadReportSpec(values.spec);
    const result = await buildReport(spec, { outFile: values.out, baseDir: dirname(resolve(values.spec)) });
    const { arms } = result.data.runs;
    const runCount = arms.reduce((a, arm) => a + arm.runs.length, 0);
    out.write(`report ${result.outFile}: ${arms.length} arms, ${runCount} runs, ${(result.bytes / 1024).toFixed(0)} KiB\n`);
    return 0;
  } catch (error) {
    if (isGenviewError(error)) {
      err.write(`genview: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
