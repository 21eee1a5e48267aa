import { type EventBus, GenviewError, type Registry, isGenviewError } from '@genview/core';
import { configHash } from '@genview/views';
import type { RunConfig } from '../config/schema';
import { type GenerateSession, openGenerateSession } from '../run/generate';
import { GENERATE_QUEUE, type QueueConnection, createQueueClient, loadBullmq } from './connection';
import { parseJobData } from './job';

export interface GenerateWorkerOptions {
  connection: QueueConnection;
  /** Shards generated at once by this process (each holds its batch in memory). */
  concurrency?: number;
  queueName?: string;
  events?: EventBus;
  registry?: Registry;
  /**
   * How long a job's lock lasts between renewals. A worker that dies mid-shard (SIGKILL, lost host)
   * holds its job until the lock expires; then another worker takes it as stalled and runs it again.
   */
  lockDurationMs?: number;
  /** How often this worker looks for stalled jobs of dead workers. */
  stalledIntervalMs?: number;
}

export interface ShardJobResult {
  shard: number;
  outcome: 'written' | 'already-complete' | 'superseded';
  views: number;
  sha256?: string;
}

export interface GenerateWorkerHandle {
  /** Stops taking jobs and lets the current ones finish (force: abandons them; they stall and run again elsewhere). */
  close(force?: boolean): Promise<void>;
}

/**
 * Open sessions (ONNX pipeline, dataset, store) by config: loading a pipeline costs far more than a
 * shard of a small model, so consecutive shards of one run reuse it. One run at a time is the normal
 * case; a session no job uses is disposed when a job of another run arrives.
 */
class SessionCache {
  private readonly entries = new Map<string, { session: Promise<GenerateSession>; users: number }>();

  constructor(private readonly open: (config: RunConfig) => Promise<GenerateSession>) {}

  async use<T>(config: RunConfig, fn: (session: GenerateSession) => Promise<T>): Promise<T> {
    const key = configHash(config);
    let entry = this.entries.get(key);
    if (!entry) {
      await this.disposeIdle();
      entry = { session: this.open(config), users: 0 };
      this.entries.set(key, entry);
      const opened = entry;
      // A run whose pipeline fails to open is tried again on the job's next attempt, not cached as broken.
      opened.session.catch(() => {
        if (this.entries.get(key) === opened) this.entries.delete(key);
      });
    }
    entry.users++;
    try {
      return await fn(await entry.session);
    } finally {
      entry.users--;
    }
  }

  private async disposeIdle(): Promise<void> {
    for (const [key, entry] of [...this.entries]) {
      if (entry.users > 0) continue;
      this.entries.delete(key);
      await (await entry.session.catch(() => null))?.dispose();
    }
  }

  async disposeAll(): Promise<void> {
    await this.disposeIdle();
  }
}

/**
 * `genview worker`: takes shard jobs off the queue and writes them into the store named in each job,
 * through the same session code as a single-process `genview generate`. A shard whose completion
 * marker exists is skipped, and a retried shard rewrites identical bytes, so any job may run twice.
 */
export async function runGenerateWorker(options: GenerateWorkerOptions): Promise<GenerateWorkerHandle> {
  const { Worker, UnrecoverableError } = await loadBullmq();
  const events = options.events;
  const log = (level: 'info' | 'warn', message: string) => events?.emit('log', { level, source: 'worker', message });
  const sessions = new SessionCache((config) => openGenerateSession(config, { events, registry: options.registry }));
  const client = await createQueueClient(options.connection);
  const worker = new Worker<unknown, ShardJobResult>(
    options.queueName ?? GENERATE_QUEUE,
    async (job) => {
      let parsed: ReturnType<typeof parseJobData>;
      try {
        parsed = parseJobData(job.data, job.id);
      } catch (error) {
        // A malformed job fails the same way on every attempt: straight to the dead letters.
        throw new UnrecoverableError((error as Error).message);
      }
      const { config, shard } = parsed;
      const started = performance.now();
      return sessions.use(config, async (session) => {
        await session.store.refresh();
        if (session.store.completedShards().includes(shard)) {
          await job.updateProgress(100);
          log('info', `shard ${shard} of ${session.storeDir} is already complete; skipped (job ${job.id}).`);
          return { shard, outcome: 'already-complete', views: 0 };
        }
        const { views, result } = await session.writeShard(shard, (done, total) => {
          job.updateProgress(Math.round((100 * done) / total)).catch(() => undefined);
        });
        const seconds = (performance.now() - started) / 1000;
        log('info', `shard ${shard}: ${views} views ${result.outcome} in ${seconds.toFixed(1)} s (job ${job.id}, attempt ${job.attemptsMade + 1}).`);
        return { shard, outcome: result.outcome, views, sha256: result.marker.sha256 };
      });
    },
    {
      connection: client as never,
      concurrency: options.concurrency ?? 1,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
    },
  );
  // BullMQ reports connection trouble here and reconnects by itself; without a listener it would crash the process.
  worker.on('error', (error) => log('warn', `queue: ${error.message}`));
  worker.on('failed', (job, error) => {
    if (!job) return;
    const cause = isGenviewError(error) ? error.message : String(error?.message ?? error);
    log('warn', `job ${job.id} (shard ${(job.data as { shard?: number })?.shard}) failed on attempt ${job.attemptsMade}: ${cause}`);
  });
  await worker.waitUntilReady();
  let closing: Promise<void> | undefined;
  return {
    close(force = false) {
      closing ??= (async () => {
        try {
          await worker.close(force);
        } finally {
          await sessions.disposeAll();
          await client.quit();
        }
      })();
      return closing;
    },
  };
}

/** Resolves on the first SIGTERM or SIGINT; the CLI then closes the worker gracefully. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export function parseCount(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new GenviewError('INVALID_CONFIG', `${flag} must be a whole number of at least 1, got "${value}".`, { where: flag, fix: `e.g. ${flag} 2` });
  }
  return n;
}
