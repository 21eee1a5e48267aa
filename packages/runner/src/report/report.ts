import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { writeFileAtomic } from '@genview/core';
import { collectRuns, readQualityWeights } from './collect';
import { type ReportData, renderReport } from './html';
import { type ReportSpec, type ReportSpecInput, parseReportSpec } from './spec';
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
  const data: ReportData = { title: parsed.title, notes: parsed.notes, runs, viewGrids, weights, weightsAxis: parsed.weightsAxis, tables: parsed.tables };
  const html = renderReport(data);
  const outFile = resolve(options.outFile);
  await mkdir(dirname(outFile), { recursive: true });
  await writeFileAtomic(outFile, html);
  return { outFile, bytes: Buffer.byteLength(html), data };
}

/** The spec format, for `genview report --help`. */
export const REPORT_SPEC_HELP = `Spec (YAML or JSON):
  title: GenView on Fashion-MNIST
  arms:
    - name: MoCo v2 baseline
      runs: [runs/moco-s0, runs/moco-s1, runs/moco-s2]
    - name: + generated views, adaptive noise
      runs: [runs/adaptive-s0, runs/adaptive-s1, runs/adaptive-s2]
  metrics: [knn_top1@20, linear_top1]       # optional; default: every top-1 kNN and linear-probe metric
  viewStores: [{ name: unCLIP views, dir: views/fmnist, images: 6 }]   # optional
  qualityWeights: [{ name: fg/bg weights, file: weights.json }]         # optional; a JSON array of numbers
    # groups: labels.json (optional; one group name per weight, e.g. clean/corrupted: one colour per group)
  weightsAxis: per-set                                                   # optional; shared (default) or one x axis per histogram
  tables: [{ name: ROC AUC, columns: [store, AUC], rows: [[p25, '0.987']], caption: text }]   # optional
  notes: free text shown under the title                                 # optional
`;
