import type { FailedJob } from './dead-letter';

/** `12s`, `3m05s`, `1h02m`; `--` while no rate is known. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** What one look at the work says: items done, items not done, and the dead jobs among those not done. */
export interface SettleCheck<D extends FailedJob> {
  done: number;
  left: number;
  dead: D[];
}

export interface WaitUntilSettledOptions<D extends FailedJob> {
  total: number;
  /** Items that were done before the jobs were enqueued (the rate counts only the rest). */
  startedDone: number;
  /** What the items are, plural: "shards", "evaluations". */
  unit: string;
  /** Looks at the work: where it is written (the source of truth), and the queue's failed jobs. */
  check(): Promise<SettleCheck<D>>;
  /** Called whenever `done` changes, before the log line; may return more for that line (e.g. "480 views"). */
  onProgress?(done: number): string | undefined;
  log(message: string): void;
  /** performance.now() when the caller started: timeoutMs counts from there. */
  started: number;
  pollMs?: number;
  timeoutMs?: number;
  /** The error thrown when timeoutMs passes with `left` items neither done nor dead. */
  timeoutError(left: number): Error;
}

/**
 * The coordinators' wait: polls until every item is done or its job is dead (failed on every
 * attempt), logging progress with a rate and an ETA whenever the count moves.
 */
export async function waitUntilSettled<D extends FailedJob>(options: WaitUntilSettledOptions<D>): Promise<{ done: number; dead: D[] }> {
  const { total, startedDone, unit } = options;
  const waitStart = performance.now();
  let lastDone = -1;
  for (;;) {
    const { done, left, dead } = await options.check();
    if (done !== lastDone) {
      lastDone = done;
      const extra = options.onProgress?.(done);
      const rate = (done - startedDone) / Math.max(1e-9, (performance.now() - waitStart) / 1000);
      const parts = [`${done}/${total} ${unit}`, ...(extra ? [extra] : []), `${rate.toFixed(2)} ${unit}/s`, `ETA ${formatDuration((total - done) / rate)}`];
      options.log(parts.join(' · '));
    }
    if (left === dead.length) return { done, dead };
    if (options.timeoutMs !== undefined && performance.now() - options.started > options.timeoutMs) throw options.timeoutError(left);
    await new Promise((r) => setTimeout(r, options.pollMs ?? 1000));
  }
}

export interface QueuedJob {
  name: string;
  jobId: string;
  data: unknown;
}

/**
 * Adds the jobs whose id is not queued yet, and returns how many it added. A failed job from an
 * earlier run, or a completed one whose work was undone since (verify --repair, --overwrite, a
 * deleted result), would make the add a no-op: those are removed first. Completion lives where the
 * work is written, so completed jobs are not kept; failed ones are, so their error can be reported.
 */
export async function addJobsOnce(queue: import('bullmq').Queue, jobs: readonly QueuedJob[], retry: { attempts: number; backoffMs: number }): Promise<number> {
  const toAdd: QueuedJob[] = [];
  for (const item of jobs) {
    const job = await queue.getJob(item.jobId);
    const state = job ? await job.getState() : 'unknown';
    if (job && (state === 'failed' || state === 'completed')) await job.remove();
    if (!job || state === 'failed' || state === 'completed' || state === 'unknown') toAdd.push(item);
  }
  const added = await queue.addBulk(
    toAdd.map(({ name, jobId, data }) => ({
      name,
      data,
      opts: { jobId, attempts: retry.attempts, backoff: { type: 'exponential', delay: retry.backoffMs }, removeOnComplete: true, removeOnFail: false },
    })),
  );
  return added.length;
}
