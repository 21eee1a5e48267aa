import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GenviewError, formatConfigIssues, z } from '@genview/core';
import type { ReportSpec } from './spec';

/** Mean and sample standard deviation (n - 1) of the finite values; std is null below two values. */
export interface Stat {
  mean: number;
  std: number | null;
  n: number;
}

export interface CurvePoint {
  step: number;
  mean: number;
  std: number | null;
  /** Seeds that logged this step. */
  n: number;
}

export interface RunData {
  /** As written in the spec. */
  dir: string;
  seed?: number;
  /** What results.json calls the trained encoder (the framework name). */
  encoder: string;
  totalSteps?: number;
  /** Trained encoder first, then the baselines, each with its evaluators' metrics merged. */
  evaluations: { encoder: string; metrics: Record<string, number> }[];
  /** "evaluator: what its numbers are", for the trained encoder. */
  descriptions: string[];
  loss: { step: number; loss: number }[];
}

export interface ArmData {
  name: string;
  runs: RunData[];
  metrics: Record<string, Stat | null>;
  curve: CurvePoint[];
}

export interface BaselineData {
  /** The baseline encoder's name, plus the arm's when arms disagree about it. */
  name: string;
  metrics: Record<string, Stat | null>;
}

export interface WeightsData {
  name: string;
  file: string;
  values: number[];
  /** One group name per value, when the spec names a groups file. */
  groups?: string[];
}

export interface CollectedRuns {
  metrics: string[];
  /** Distinct evaluator descriptions over all runs: more than one per evaluator means the arms were not evaluated alike. */
  descriptions: string[];
  arms: ArmData[];
  baselines: BaselineData[];
}

export function stat(values: readonly number[]): Stat | null {
  const finite = values.filter(Number.isFinite);
  const n = finite.length;
  if (n === 0) return null;
  const mean = finite.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, std: null, n };
  const squares = finite.reduce((a, b) => a + (b - mean) ** 2, 0);
  return { mean, std: Math.sqrt(squares / (n - 1)), n };
}

// JSON.stringify writes NaN and Infinity as null, so a diverged metric arrives as null.
const metricValue = z.number().nullable();

const resultsSchema = z.looseObject({
  config: z.looseObject({ seed: z.number().optional() }).optional(),
  totalSteps: z.number().optional(),
  evaluations: z
    .array(
      z.looseObject({
        encoder: z.string(),
        results: z.array(z.looseObject({ evaluator: z.string(), metrics: z.record(z.string(), metricValue), description: z.string().optional() })),
      }),
    )
    .min(1),
});

const metricsLineSchema = z.looseObject({ step: z.number(), split: z.string().optional(), loss: metricValue.optional() });

async function readText(path: string, what: string, fix: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new GenviewError(missing ? 'NOT_FOUND' : 'UNREADABLE_FILE', missing ? `${what} is missing.` : `cannot read ${what}: ${(error as Error).message}.`, {
      where: path,
      fix,
      cause: error,
    });
  }
}

function unfinishedRunFix(arm: string, dir: string): string {
  return `run \`genview train\` with outDir: ${dir} to the end (results.json is written after training and evaluation), or remove ${dir} from arm "${arm}" in the spec.`;
}

async function readResults(path: string, arm: string, dir: string): Promise<z.output<typeof resultsSchema>> {
  const text = await readText(path, 'results.json', unfinishedRunFix(arm, dir));
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new GenviewError('UNREADABLE_FILE', `results.json is not valid JSON (${(error as Error).message}).`, {
      where: path,
      fix: `the file is damaged; rerun \`genview train --resume\` with outDir: ${dir} to rewrite it.`,
      cause: error,
    });
  }
  const parsed = resultsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new GenviewError('UNREADABLE_FILE', `results.json does not look like the output of \`genview train\`: ${formatConfigIssues('', parsed.error.issues).join('; ')}.`, {
      where: path,
      fix: 'point the arm at a run directory of `genview train` (it holds results.json with evaluations: [{ encoder, results }]).',
    });
  }
  return parsed.data;
}

async function readLoss(path: string, arm: string, dir: string): Promise<{ step: number; loss: number }[]> {
  const text = await readText(path, 'metrics.jsonl', unfinishedRunFix(arm, dir));
  const byStep = new Map<number, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    const parsed = metricsLineSchema.safeParse(value);
    if (!parsed.success) {
      throw new GenviewError('UNREADABLE_FILE', `line ${i + 1} of metrics.jsonl is not a JSON object with a numeric step: ${line.slice(0, 80)}`, {
        where: `${path}:${i + 1}`,
        fix: 'the log was damaged (a run killed mid-write, or an edit); delete that line and build the report again.',
      });
    }
    const record = parsed.data;
    // Monitor lines (split: "monitor") share the step numbers of training lines but carry no loss.
    if (record.split !== undefined || record.loss === undefined) continue;
    // A resumed run appends the steps after its last checkpoint a second time; the later line is the one the finished run continued from.
    byStep.set(record.step, record.loss ?? Number.NaN);
  }
  return [...byStep.entries()].sort((a, b) => a[0] - b[0]).map(([step, loss]) => ({ step, loss }));
}

function mergedMetrics(results: { metrics: Record<string, number | null> }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) for (const [name, value] of Object.entries(r.metrics)) out[name] = value ?? Number.NaN;
  return out;
}

async function readRun(baseDir: string, arm: string, dir: string): Promise<RunData> {
  const abs = resolve(baseDir, dir);
  const [results, loss] = await Promise.all([readResults(join(abs, 'results.json'), arm, dir), readLoss(join(abs, 'metrics.jsonl'), arm, dir)]);
  const evaluations = results.evaluations.map((e) => ({ encoder: e.encoder, metrics: mergedMetrics(e.results) }));
  const descriptions = results.evaluations[0].results.map((r) => `${r.evaluator}: ${r.description ?? '(no description)'}`);
  return { dir, seed: results.config?.seed, encoder: evaluations[0].encoder, totalSteps: results.totalSteps, evaluations, descriptions, loss };
}

function isHeadline(name: string): boolean {
  return /^knn_top1@/.test(name) || name === 'linear_top1';
}

function chooseMetrics(requested: string[] | undefined, runs: RunData[]): string[] {
  const found: string[] = [];
  for (const run of runs) for (const name of Object.keys(run.evaluations[0].metrics)) if (!found.includes(name)) found.push(name);
  if (requested) {
    const unknown = requested.filter((m) => !found.includes(m));
    if (unknown.length > 0) {
      throw new GenviewError('INVALID_CONFIG', `no run reports ${unknown.map((m) => `"${m}"`).join(', ')}.`, {
        where: 'metrics',
        fix: `use names from the runs' results.json: ${found.join(', ') || '(none)'}.`,
      });
    }
    return requested;
  }
  const headline = found.filter(isHeadline);
  if (headline.length === 0) {
    throw new GenviewError('INVALID_CONFIG', 'the runs report no top-1 kNN (knn_top1@k) or linear-probe (linear_top1) metric to show by default.', {
      where: 'metrics',
      fix: `name the metrics to show in the spec, from: ${found.join(', ') || '(none)'}.`,
    });
  }
  return headline;
}

function metricStats(records: Record<string, number>[], metrics: string[]): Record<string, Stat | null> {
  const out: Record<string, Stat | null> = {};
  for (const m of metrics) out[m] = stat(records.flatMap((r) => (m in r ? [r[m]] : [])));
  return out;
}

function meanCurve(runs: RunData[]): CurvePoint[] {
  const byStep = new Map<number, number[]>();
  for (const run of runs) {
    for (const { step, loss } of run.loss) {
      if (!Number.isFinite(loss)) continue;
      const values = byStep.get(step) ?? [];
      values.push(loss);
      byStep.set(step, values);
    }
  }
  return [...byStep.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([step, values]) => {
      const s = stat(values) as Stat;
      return { step, mean: s.mean, std: s.std, n: s.n };
    });
}

function sameMetrics(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.is(a[k], b[k]));
}

/**
 * One row per baseline encoder over distinct seeds. Arms usually share seeds and backbone, so their
 * baselines are the same measurements repeated; counting each once keeps n and the std honest. When
 * two runs of one seed disagree (arms with different backbones or data), the baseline is per arm.
 */
function collectBaselines(arms: ArmData[], metrics: string[]): BaselineData[] {
  const names: string[] = [];
  for (const arm of arms) for (const run of arm.runs) for (const e of run.evaluations.slice(1)) if (!names.includes(e.encoder)) names.push(e.encoder);
  const rows: BaselineData[] = [];
  for (const name of names) {
    const bySeed = new Map<string, Record<string, number>>();
    let consistent = true;
    for (const arm of arms) {
      for (const run of arm.runs) {
        const found = run.evaluations.slice(1).find((e) => e.encoder === name);
        if (!found) continue;
        const key = run.seed === undefined ? `dir:${run.dir}` : `seed:${run.seed}`;
        const seen = bySeed.get(key);
        if (seen && !sameMetrics(seen, found.metrics)) consistent = false;
        bySeed.set(key, found.metrics);
      }
    }
    if (consistent) {
      rows.push({ name, metrics: metricStats([...bySeed.values()], metrics) });
      continue;
    }
    for (const arm of arms) {
      const records = arm.runs.flatMap((run) => run.evaluations.slice(1).filter((e) => e.encoder === name).map((e) => e.metrics));
      if (records.length > 0) rows.push({ name: `${name} · ${arm.name}`, metrics: metricStats(records, metrics) });
    }
  }
  return rows;
}

/** Reads every run of every arm; relative run directories are taken from baseDir (the spec file's folder). */
export async function collectRuns(spec: ReportSpec, baseDir: string): Promise<CollectedRuns> {
  const armRuns = await Promise.all(spec.arms.map((arm) => Promise.all(arm.runs.map((dir) => readRun(baseDir, arm.name, dir)))));
  const metrics = chooseMetrics(spec.metrics, armRuns.flat());
  const arms: ArmData[] = spec.arms.map((arm, i) => {
    const runs = armRuns[i];
    return { name: arm.name, runs, metrics: metricStats(runs.map((r) => r.evaluations[0].metrics), metrics), curve: meanCurve(runs) };
  });
  const descriptions = [...new Set(armRuns.flat().flatMap((r) => r.descriptions))];
  return { metrics, descriptions, arms, baselines: collectBaselines(arms, metrics) };
}

async function readJsonArray(path: string, what: string, fix: string): Promise<unknown[]> {
  const text = await readText(path, what, fix);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new GenviewError('UNREADABLE_FILE', `${what} are not valid JSON (${(error as Error).message}).`, { where: path, fix, cause: error });
  }
  if (!Array.isArray(raw) || raw.length === 0) throw new GenviewError('BAD_INPUT', `${what} must be a non-empty JSON array.`, { where: path, fix });
  return raw;
}

export async function readQualityWeights(entry: { name: string; file: string; groups?: string }, baseDir: string): Promise<WeightsData> {
  const path = resolve(baseDir, entry.file);
  const fix = 'write the per-image quality weights as a JSON array of numbers, e.g. [0.93, 1.12, ...].';
  const raw = await readJsonArray(path, `quality weights "${entry.name}"`, fix);
  const bad = raw.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
  if (bad >= 0) {
    throw new GenviewError('BAD_INPUT', `quality weight [${bad}] of "${entry.name}" is ${JSON.stringify(raw[bad])}, not a finite number.`, { where: path, fix });
  }
  const values = raw as number[];
  if (entry.groups === undefined) return { name: entry.name, file: entry.file, values };
  const groupsPath = resolve(baseDir, entry.groups);
  const groupsFix = `write one group name per weight of ${entry.file} (${values.length} strings, same order), e.g. ["clean", "corrupted", ...].`;
  const groups = await readJsonArray(groupsPath, `weight groups of "${entry.name}"`, groupsFix);
  if (groups.length !== values.length) {
    throw new GenviewError('BAD_INPUT', `weight groups of "${entry.name}" hold ${groups.length} names for ${values.length} weights.`, { where: groupsPath, fix: groupsFix });
  }
  const notString = groups.findIndex((g) => typeof g !== 'string' || g.length === 0);
  if (notString >= 0) {
    throw new GenviewError('BAD_INPUT', `weight group [${notString}] of "${entry.name}" is ${JSON.stringify(groups[notString])}, not a non-empty string.`, { where: groupsPath, fix: groupsFix });
  }
  return { name: entry.name, file: entry.file, values, groups: groups as string[] };
}
