import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { GenviewError, readFileIfExists, writeFileAtomic } from '@genview/core';

/** Appends one JSON object per line; each line is complete on its own, so a crashed run's log stays readable. */
export class JsonlLog {
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }

  write(record: Record<string, unknown>): void {
    try {
      appendFileSync(this.path, `${JSON.stringify(record)}\n`);
    } catch (error) {
      throw new GenviewError('UNREADABLE_FILE', `could not append to ${this.path}: ${(error as Error).message}.`, {
        where: this.path,
        fix: 'free space on its file system (or check that it is writable), then continue with genview train --resume; the last checkpoint is intact.',
        cause: error,
      });
    }
  }

  /**
   * Keeps the records of steps up to `step` and drops the rest, in one atomic replace: a run resumed
   * from the checkpoint of `step` logs the later steps again, so each step then appears once. A line a
   * kill cut short (no newline, or not JSON) goes too. Returns how many records were dropped.
   */
  async truncateAfter(step: number): Promise<number> {
    const text = await readFileIfExists(this.path, 'utf8');
    if (text === null) return 0;
    const kept: string[] = [];
    let dropped = 0;
    const lines = text.split('\n');
    // The last piece is '' when the file ends with a newline, else a torn line.
    const complete = lines.slice(0, -1);
    if (lines[lines.length - 1] !== '') dropped++;
    for (const line of complete) {
      if (line.trim() === '') continue;
      if (stepOf(line) <= step) kept.push(line);
      else dropped++;
    }
    if (dropped > 0) await writeFileAtomic(this.path, kept.length > 0 ? `${kept.join('\n')}\n` : '');
    return dropped;
  }
}

/** The record's step, or Infinity for a line that is not a record (so truncation drops it). */
function stepOf(line: string): number {
  try {
    const step = (JSON.parse(line) as { step?: unknown }).step;
    return typeof step === 'number' && Number.isFinite(step) ? step : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}
