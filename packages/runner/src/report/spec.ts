import { readFileSync } from 'node:fs';
import { GenviewError, formatConfigIssues, z } from '@genview/core';
import { parseYaml } from '../config/load';

const armSchema = z
  .object({
    /** Shown in the table, the legend and the per-run listing. */
    name: z.string().min(1),
    /** Output directories of `genview train`, one per seed. */
    runs: z.array(z.string().min(1)).min(1),
  })
  .strict();

const viewStoreSchema = z
  .object({
    name: z.string().min(1),
    /** A directory written by `genview generate`. */
    dir: z.string().min(1),
    /** Source images (grid rows) to show, taken from the store's first complete shards. */
    images: z.number().int().positive().max(64).default(6),
  })
  .strict();

const qualityWeightsSchema = z
  .object({
    name: z.string().min(1),
    /** A JSON file holding an array of numbers. */
    file: z.string().min(1),
    /**
     * A JSON file holding one group name per weight (same length and order as `file`), e.g. "clean" or
     * "corrupted": the histogram then shows each group in its own colour, with its own statistics.
     */
    groups: z.string().min(1).optional(),
  })
  .strict();

const tableSchema = z
  .object({
    name: z.string().min(1),
    columns: z.array(z.string()).min(1),
    /** Cells as shown, numbers already formatted (the spec's writer knows their precision). */
    rows: z.array(z.array(z.union([z.string(), z.number()]))),
    /** Plain text under the table. */
    caption: z.string().optional(),
  })
  .strict()
  .refine((t) => t.rows.every((r) => r.length === t.columns.length), { message: 'every row of a table needs one cell per column' });

function uniqueNames(items: readonly { name: string }[]): boolean {
  return new Set(items.map((i) => i.name)).size === items.length;
}

export const reportSpecSchema = z
  .object({
    title: z.string().min(1),
    arms: z.array(armSchema).min(1).refine(uniqueNames, { message: 'arm names must be unique (they label the table rows and curves)' }),
    /** Metric names from results.json; without it, every top-1 kNN and linear-probe metric the trained encoders report. */
    metrics: z.array(z.string().min(1)).min(1).optional(),
    viewStores: z.array(viewStoreSchema).default([]),
    qualityWeights: z.array(qualityWeightsSchema).default([]),
    /** One x axis for every weight histogram (compare spreads at a glance), or one per set (spreads that differ tenfold). */
    weightsAxis: z.enum(['shared', 'per-set']).default('shared'),
    /** Tables the spec's writer computed (e.g. ROC AUCs), shown after the results. */
    tables: z.array(tableSchema).default([]),
    /** Plain text; blank lines separate paragraphs. */
    notes: z.string().optional(),
  })
  .strict();

export type ReportSpecInput = z.input<typeof reportSpecSchema>;
export type ReportSpec = z.output<typeof reportSpecSchema>;

export function parseReportSpec(raw: unknown, source = 'report spec'): ReportSpec {
  const parsed = reportSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = formatConfigIssues('', parsed.error.issues);
    throw new GenviewError('INVALID_CONFIG', `invalid report spec:\n  ${lines.join('\n  ')}`, {
      where: source,
      fix: 'a spec needs title and arms: [{ name, runs: [dir, ...] }]; optional: metrics, viewStores: [{ name, dir, images }], qualityWeights: [{ name, file, groups? }], weightsAxis: shared | per-set, tables: [{ name, columns, rows, caption? }], notes.',
    });
  }
  return parsed.data;
}

/** Reads a YAML or JSON spec file (JSON is YAML, so one parser serves both). */
export function loadReportSpec(path: string): ReportSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new GenviewError('NOT_FOUND', `cannot read report spec ${path}.`, { fix: 'check the path given to --spec.', cause: error });
  }
  return parseReportSpec(parseYaml(text, path), path);
}
