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
  })
  .strict();

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
      fix: 'a spec needs title and arms: [{ name, runs: [dir, ...] }]; optional: metrics, viewStores: [{ name, dir, images }], qualityWeights: [{ name, file }], notes.',
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
