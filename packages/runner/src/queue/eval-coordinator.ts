import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type EventBus, GenviewError, type PluginRef, type Registry, writeFileAtomic } from '@genview/core';
import type { RunConfig } from '../config/schema';
import { createRegistry } from '../registry';
import { readRunConfig } from '../run/services';
import { type QueueConnection, createQueueClient, loadBullmq } from './connection';
import { addJobsOnce, waitUntilSettled } from './coordination';
import { type FailedJob, clearDeadLetters, deadLetterPath, failedJobsOf, formatFailedJobs, writeDeadLetters } from './dead-letter';
import {
  type CheckpointIdentity,
  EVAL_JOB_NAME,
  EVAL_QUEUE,
  type EvalJobData,
  type EvalResultFile,
  checkpointIdentity,
  evalJobId,
  evalResultPath,
  evaluatorName,
  isCurrentResult,
  readEvalResult,
  resolveEvaluator,
  sameEvaluator,
} from './eval-job';

/** The evaluators a sweep runs when none are named; each takes its options from the run's own config where it names them. */
export const DEFAULT_SWEEP_EVALUATORS: readonly PluginRef[] = ['knn', 'linear-probe'];

export interface EnqueueEvalSweepOptions {
  connection: QueueConnection;
  /** Evaluators by name (options from each run's config, else defaults) or with options; default DEFAULT_SWEEP_EVALUATORS. */
  evaluators?: readonly PluginRef[];
  /** Where to write the sweep's table (JSON); the dead-letter report goes beside it. */
  out?: string;
  /** The dead-letter report (default: beside `out`, else ./eval-sweep.dead-letter.json). */
  deadLetterFile?: string;
  queueName?: string;
  events?: EventBus;
  registry?: Registry;
  /** Tries per evaluation before it goes to the dead letters (default 3). */
  attempts?: number;
  /** First retry delay; doubles with every further attempt (default 2000 ms). */
  backoffMs?: number;
  /** How often the result files and the queue are checked while waiting (default 1000 ms). */
  pollMs?: number;
  /** Give up waiting after this long (default: wait until every evaluation is written or dead). */
  timeoutMs?: number;
}

/** One evaluation whose job failed on every attempt. */
export interface EvalDeadLetter extends FailedJob {
  /** The run directory, as given. */
  run: string;
  evaluator: string;
}

export interface EvalSweepCell {
  /** The checkpoint step evaluated. */
  step: number;
  encoder: string;
  metrics: Record<string, number>;
  description: string;
}

/** What `--out` holds: run × evaluator → metrics (null where the evaluation failed). */
export interface EvalSweepReport {
  queue: string;
  evaluators: string[];
  /** Run directory as given → evaluator → its result. */
  table: Record<string, Record<string, EvalSweepCell | null>>;
  deadLetters: EvalDeadLetter[];
}

export interface EnqueueEvalSweepResult {
  report: EvalSweepReport;
  jobsTotal: number;
  /** Evaluations this call put on the queue (those whose job was already queued are not counted). */
  jobsEnqueued: number;
  /** Evaluations whose result was already written for the run's current checkpoint: not enqueued. */
  alreadyDone: number;
  /** Evaluations written while this call waited. */
  completed: number;
  deadLetters: EvalDeadLetter[];
  deadLetterFile?: string;
  out?: string;
  seconds: number;
}

/** One (run, evaluator) of the sweep. */
interface SweepItem {
  run: string;
  dir: string;
  requested: PluginRef;
  name: string;
  jobId: string;
  path: string;
  /** The checkpoint at planning time; undefined when the run had none (its job will say why). */
  planned?: CheckpointIdentity;
  /** The result file's text at planning time, so a file left from before counts as new work only once rewritten. */
  previous?: string;
}

const DEFAULT_ATTEMPTS = 3;

function readText(path: string): string | undefined {
  try {
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  } catch {
    return undefined;
  }
}

/** Checks the evaluators before anything is queued: known names, valid options, one of each name (one result file each). */
function checkEvaluators(evaluators: readonly PluginRef[], registry: Registry): void {
  if (evaluators.length === 0) {
    throw new GenviewError('INVALID_CONFIG', 'the sweep names no evaluator.', { where: '--evaluators', fix: 'e.g. --evaluators knn,linear-probe' });
  }
  const seen = new Set<string>();
  for (const [i, ref] of evaluators.entries()) {
    const where = `--evaluators[${i}]`;
    const name = evaluatorName(ref);
    const plugin = registry.resolve('evaluator', name, where);
    if (typeof ref !== 'string') {
      const { name: _name, ...options } = ref;
      registry.validate(plugin, options, where);
    }
    if (seen.has(name)) {
      throw new GenviewError('INVALID_CONFIG', `evaluator "${name}" is named twice; each writes <run>/eval/${name}.json.`, {
        where,
        fix: 'name each evaluator once per sweep (run a second sweep for other options).',
      });
    }
    seen.add(name);
  }
}

/**
 * `genview eval-sweep --queue redis://… --runs a,b`: one job per (run directory × evaluator) on the
 * eval queue, each evaluating the run's last checkpoint with that one evaluator and writing
 * `<run>/eval/<evaluator>.json`; waits for `genview worker`s to do them and collects the results into
 * a run × evaluator table. Job ids are deterministic and a result already written for a run's current
 * checkpoint is not enqueued again, so a rerun only does what is missing. Evaluations that failed on
 * every attempt are returned (and written to the dead-letter report) with their last error.
 */
export async function enqueueEvalSweep(runs: readonly string[], options: EnqueueEvalSweepOptions): Promise<EnqueueEvalSweepResult> {
  const { Queue } = await loadBullmq();
  const started = performance.now();
  const events = options.events;
  const log = (level: 'info' | 'warn', message: string) => events?.emit('log', { level, source: 'eval-sweep', message });
  const registry = options.registry ?? createRegistry();
  const queueName = options.queueName ?? EVAL_QUEUE;
  const evaluators = options.evaluators ?? DEFAULT_SWEEP_EVALUATORS;
  if (runs.length === 0) {
    throw new GenviewError('INVALID_CONFIG', 'the sweep names no run directory.', { where: '--runs', fix: 'e.g. --runs runs/a,runs/b' });
  }
  checkEvaluators(evaluators, registry);

  // Run configs as read so far: one that cannot be read yet is tried again (its jobs fail and say why).
  const configs = new Map<string, RunConfig>();
  const configOf = (dir: string): RunConfig | undefined => {
    if (!configs.has(dir)) {
      try {
        configs.set(dir, readRunConfig(dir));
      } catch {
        return undefined;
      }
    }
    return configs.get(dir);
  };
  const refOf = (item: SweepItem): PluginRef => {
    const config = configOf(item.dir);
    return config ? resolveEvaluator(config, item.requested) : item.requested;
  };
  const identity = (dir: string): CheckpointIdentity | undefined => {
    try {
      return checkpointIdentity(dir);
    } catch {
      return undefined;
    }
  };
  /** Written by a worker for this sweep: current for the planned checkpoint (or a later one), or new since planning. */
  const resultOf = (item: SweepItem): EvalResultFile | undefined => {
    const file = readEvalResult(item.path);
    if (!file || !sameEvaluator(file.ref, refOf(item))) return undefined;
    const { planned } = item;
    if (planned) return file.checkpoint.configHash === planned.configHash && file.checkpoint.step >= planned.step ? file : undefined;
    return readText(item.path) !== item.previous ? file : undefined;
  };

  const seenDirs = new Set<string>();
  const items: SweepItem[] = [];
  for (const run of runs) {
    const dir = resolve(run);
    if (seenDirs.has(dir)) continue;
    seenDirs.add(dir);
    const planned = identity(dir);
    for (const requested of evaluators) {
      const name = evaluatorName(requested);
      const path = evalResultPath(dir, name);
      items.push({ run, dir, requested, name, jobId: evalJobId(dir, requested), path, planned, previous: readText(path) });
    }
  }
  const isDone = (item: SweepItem) => (item.planned ? isCurrentResult(readEvalResult(item.path), refOf(item), item.planned) : false);
  const pending = items.filter((item) => !isDone(item));
  const alreadyDone = items.length - pending.length;

  const client = await createQueueClient(options.connection);
  const queue = new Queue(queueName, { connection: client as never });
  try {
    const enqueued = await addJobsOnce(
      queue,
      pending.map((item) => ({ name: EVAL_JOB_NAME, jobId: item.jobId, data: { runDir: item.dir, evaluator: item.requested } satisfies EvalJobData })),
      { attempts: options.attempts ?? DEFAULT_ATTEMPTS, backoffMs: options.backoffMs ?? 2000 },
    );
    log(
      'info',
      `${seenDirs.size} runs × ${evaluators.length} evaluators: ${alreadyDone} of ${items.length} already evaluated; ${enqueued} jobs enqueued on ${queueName} (${pending.length - enqueued} already queued).`,
    );
    if (pending.length > 0 && (await queue.getWorkersCount()) === 0) {
      log('info', 'no worker is connected yet: start some with `genview worker --queue <same URL>`.');
    }

    const byJob = new Map(pending.map((item) => [item.jobId, item]));
    const { done, dead } = await waitUntilSettled<EvalDeadLetter>({
      total: items.length,
      startedDone: alreadyDone,
      unit: 'evaluations',
      async check() {
        const left = new Set(pending.filter((item) => !resultOf(item)).map((item) => item.jobId));
        const dead =
          left.size === 0
            ? []
            : await failedJobsOf(queue, (jobId) => {
                const item = left.has(jobId) ? byJob.get(jobId) : undefined;
                return item ? { run: item.run, evaluator: item.name } : undefined;
              });
        return { done: items.length - left.size, left: left.size, dead };
      },
      onProgress(done) {
        events?.emit('progress', { task: 'eval-sweep', done, total: items.length, unit: 'evaluations' });
        return undefined;
      },
      log: (message) => log('info', message),
      started,
      pollMs: options.pollMs,
      timeoutMs: options.timeoutMs,
      timeoutError: (left) =>
        new GenviewError('INTERNAL', `${left} of ${items.length} evaluations are still not written after ${((options.timeoutMs ?? 0) / 1000).toFixed(0)} s.`, {
          where: `queue ${queueName}`,
          fix: 'check that workers are running (`genview worker --queue <URL>`) and can read the run directories; rerun to keep waiting (nothing is enqueued twice).',
        }),
    });

    const order = new Map(items.map((item, i) => [item.jobId, i]));
    const deadLetters = dead.sort((a, b) => (order.get(a.jobId) ?? 0) - (order.get(b.jobId) ?? 0));
    const deadJobs = new Set(deadLetters.map((d) => d.jobId));
    const table: EvalSweepReport['table'] = {};
    for (const item of items) {
      const file = deadJobs.has(item.jobId) ? undefined : resultOf(item);
      const row = table[item.run] ?? {};
      table[item.run] = row;
      row[item.name] = file ? { step: file.checkpoint.step, encoder: file.encoder, metrics: file.result.metrics, description: file.result.description } : null;
    }
    const report: EvalSweepReport = { queue: queueName, evaluators: evaluators.map(evaluatorName), table, deadLetters };
    const out = options.out === undefined ? undefined : resolve(options.out);
    if (out) {
      await mkdir(dirname(out), { recursive: true });
      await writeFileAtomic(out, `${JSON.stringify(report, null, 2)}\n`);
    }
    const deadFile = resolve(options.deadLetterFile ?? (out ? deadLetterPath(out.replace(/\.json$/i, '')) : 'eval-sweep.dead-letter.json'));
    if (deadLetters.length > 0) {
      await writeDeadLetters(deadFile, { queue: queueName, runs: [...seenDirs], jobs: deadLetters });
    } else {
      await clearDeadLetters(deadFile);
    }
    return {
      report,
      jobsTotal: items.length,
      jobsEnqueued: enqueued,
      alreadyDone,
      completed: done - alreadyDone,
      deadLetters,
      deadLetterFile: deadLetters.length > 0 ? deadFile : undefined,
      out,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await queue.close();
    await client.quit();
  }
}

export function formatEvalDeadLetters(deadLetters: readonly EvalDeadLetter[], path: string): string {
  return formatFailedJobs(deadLetters, path, 'evaluation job(s)', (d) => `${d.run} · ${d.evaluator}`);
}

/** The sweep's table as text: one line per run and evaluator, its metrics in the evaluator's order. */
export function formatEvalSweep(report: EvalSweepReport): string {
  const lines: string[] = [];
  for (const [run, row] of Object.entries(report.table)) {
    for (const [evaluator, cell] of Object.entries(row)) {
      const metrics = cell ? Object.entries(cell.metrics).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(4)}`).join('  ') : 'failed (see the dead letters)';
      lines.push(`${run} · ${evaluator}${cell ? ` @ step ${cell.step}` : ''}: ${metrics}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
