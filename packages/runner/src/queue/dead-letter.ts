import { rm, writeFile } from 'node:fs/promises';
import type { Queue } from 'bullmq';

/** A job that failed on every attempt (or failed for good at once, like a malformed job). */
export interface FailedJob {
  jobId: string;
  attempts: number;
  lastError: string;
  failedAt?: string;
}

/** One shard whose job failed on every attempt (or failed for good at once, like a malformed job). */
export interface DeadLetter extends FailedJob {
  shard: number;
}

export interface DeadLetterReport {
  store: string;
  queue: string;
  storeHash: string;
  jobs: DeadLetter[];
}

/** Beside the store, not in it: the store directory holds only what ViewStore owns. */
export function deadLetterPath(storeDir: string): string {
  return `${storeDir.replace(/\/+$/, '')}.dead-letter.json`;
}

export async function writeDeadLetters<R extends { jobs: readonly FailedJob[] }>(path: string, report: R): Promise<void> {
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}

/** A run that ends clean removes the report of an earlier failed one, so a report on disk is always current. */
export async function clearDeadLetters(path: string): Promise<void> {
  await rm(path, { force: true });
}

/**
 * The queue's failed jobs that `pick` claims (by id): BullMQ moves a job to "failed" only once its
 * attempts are spent. `pick` returns what the report adds to the job (its shard, its run), or
 * undefined for a job of another run or one whose work has been done since.
 */
export async function failedJobsOf<T extends object>(queue: Pick<Queue, 'getJobs'>, pick: (jobId: string) => T | undefined): Promise<(FailedJob & T)[]> {
  const out: (FailedJob & T)[] = [];
  for (const job of await queue.getJobs(['failed'], 0, -1)) {
    if (!job?.id) continue;
    const extra = pick(job.id);
    if (extra === undefined) continue;
    out.push({
      jobId: job.id,
      ...extra,
      attempts: job.attemptsMade,
      lastError: job.failedReason ?? '(no reason recorded)',
      failedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : undefined,
    });
  }
  return out;
}

/** `what` names the jobs ("shard job(s)"), `label` says which piece of work each one was. */
export function formatFailedJobs<J extends FailedJob>(jobs: readonly J[], path: string, what: string, label: (job: J) => string): string {
  const lines = jobs.map((d) => `  ${d.jobId} (${label(d)}, ${d.attempts} attempts): ${d.lastError}`);
  return `${jobs.length} ${what} failed on every attempt (report: ${path}):\n${lines.join('\n')}\n`;
}

export function formatDeadLetters(report: DeadLetterReport, path: string): string {
  return formatFailedJobs(report.jobs, path, 'shard job(s)', (d) => `shard ${d.shard}`);
}
