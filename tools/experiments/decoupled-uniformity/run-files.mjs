// Files of the decoupled-uniformity experiment in the layout `genview train` writes (one directory per
// run: metrics.jsonl from the Trainer, results.json with config, totalSteps and evaluations), so that
// `genview report` aggregates them; plus the report spec over all runs.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@genview/core';

export const METHOD_LABELS = {
  infonce: 'InfoNCE',
  du: 'DU',
  'du-attr': 'DU + attribute prior',
  'du-pixels': 'DU + pixel prior',
  'du-gen': 'DU + generative prior',
};

/** Relative to the output folder, which is where the report spec lives (report resolves runs from there). */
export const runDirName = (method, batchSize, seed) => join('runs', `${method}-b${batchSize}-s${seed}`);

/** The headline numbers of one evaluated encoder (undefined where not measured). */
export function headline(evaluation) {
  const metrics = Object.assign({}, ...evaluation.results.map((r) => r.metrics));
  return { knnTop1: metrics['knn_top1@20'], colorKnnTop1: metrics['color_knn_top1@20'], align: metrics.align, uniform: metrics.uniform };
}

/**
 * results.json as `genview train` writes it: `run` is this experiment's row for its summary tables, read
 * back by --resume instead of retraining. Written last and atomically, so its presence means the run finished.
 */
export async function writeRunResults(dir, { config, totalSteps, summary, evaluations, run }) {
  await writeFileAtomic(join(dir, 'results.json'), `${JSON.stringify({ config, totalSteps, summary, evaluations, run }, null, 2)}\n`);
}

const readResults = (dir) => {
  const path = join(dir, 'results.json');
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : undefined;
};

/** The summary row of a finished run, or undefined when it has not finished. */
export const finishedRun = (dir) => readResults(dir)?.run;

/** The config a finished run recorded. */
export const runConfig = (dir) => readResults(dir).config;

/** One arm per (method, batch size) over the seeds, with the kNN, alignment and uniformity metrics. */
export function reportSpec({ title, methods, batches, seeds, extraLabels, notes }) {
  return {
    title,
    arms: methods.flatMap((method) =>
      batches.map((batchSize) => ({ name: `${METHOD_LABELS[method] ?? method} · batch ${batchSize}`, runs: seeds.map((seed) => runDirName(method, batchSize, seed)) })),
    ),
    metrics: ['knn_top1@20', ...extraLabels.map((e) => `${e.prefix}knn_top1@20`), 'align', 'uniform'],
    notes,
  };
}

/** JSON is YAML, so the spec needs no YAML writer; `genview report --spec` reads it as is. */
export async function writeReportSpec(path, spec) {
  await writeFileAtomic(path, `# decoupled-uniformity experiment: genview report --spec ${path}\n${JSON.stringify(spec, null, 2)}\n`);
}
