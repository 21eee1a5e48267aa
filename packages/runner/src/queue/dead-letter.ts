import { rm, writeFile } from 'node:fs/promises';

/** One shard whose job failed on every attempt (or failed for good at once, like a malformed job). */
export interface DeadLetter {
  jobId: string;
  shard: number;
  attempts: number;
  lastError: string;
  failedAt?: string;
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

export async function writeDeadLetters(path: string, report: DeadLetterReport): Promise<void> {
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}

/** A run that ends clean removes the report of an earlier failed one, so a report on disk is always current. */
export async function clearDeadLetters(path: string): Promise<void> {
  await rm(path, { force: true });
}

export function formatDeadLetters(report: DeadLetterReport, path: string): string {
  const lines = report.jobs.map((d) => `  ${d.jobId} (shard ${d.shard}, ${d.attempts} attempts): ${d.lastError}`);
  return `${report.jobs.length} shard job(s) failed on every attempt (report: ${path}):\n${lines.join('\n')}\n`;
}
