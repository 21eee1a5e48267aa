import { resolve } from 'node:path';
import { type EventBus, GenviewError, type PluginRef, type Registry } from '@genview/core';
import { ViewStore } from '@genview/views';
import type { RunConfig } from '../config/schema';
import { createRegistry } from '../registry';
import { generateStoreDir, generateStoreMeta, openGenerateDataset, withBundledModel } from '../run/generate';
import { GENERATE_QUEUE, type QueueConnection, createQueueClient, loadBullmq } from './connection';
import { type DeadLetter, type DeadLetterReport, clearDeadLetters, deadLetterPath, writeDeadLetters } from './dead-letter';
import { GENERATE_JOB_NAME, type GenerateJobData, shardJobId, storeHashOf } from './job';

export interface EnqueueGenerateOptions {
  connection: QueueConnection;
  queueName?: string;
  events?: EventBus;
  registry?: Registry;
  /** Delete an existing store first (the CLI's --overwrite). */
  overwrite?: boolean;
  /** Tries per shard before it goes to the dead letters (default 3). */
  attempts?: number;
  /** First retry delay; doubles with every further attempt (default 2000 ms). */
  backoffMs?: number;
  /** How often the store and the queue are checked while waiting (default 1000 ms). */
  pollMs?: number;
  /** Give up waiting after this long (default: wait until every shard is complete or dead). */
  timeoutMs?: number;
}

export interface EnqueueGenerateResult {
  store: string;
  storeHash: string;
  shardsTotal: number;
  /** Shards this call put on the queue (pending shards whose job was already queued are not counted). */
  shardsEnqueued: number;
  /** Shards that became complete while this call waited. */
  shardsCompleted: number;
  deadLetters: DeadLetter[];
  /** The dead-letter report, when there are dead letters. */
  deadLetterFile?: string;
  seconds: number;
}

const DEFAULT_ATTEMPTS = 3;

function refName(ref: PluginRef): string {
  return typeof ref === 'string' ? ref : ref.name;
}

/**
 * The generator's name as the store records it, without opening the pipeline: the coordinator only
 * plans, and a pipeline that fails to load must fail in the workers' jobs, where it is retried and reported.
 */
function generatorName(config: RunConfig, registry: Registry): string {
  const ref = withBundledModel(config.generate.generator as PluginRef);
  const plugin = registry.resolve('generator', refName(ref), 'generate.generator');
  const { name: _name, ...options } = typeof ref === 'string' ? { name: ref } : ref;
  registry.validate(plugin, options, 'generate.generator');
  return plugin.name;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * `genview generate --queue redis://…`: opens the store as `genview generate` does, puts one job per
 * pending shard on the queue, and waits until every shard is complete in the store. Job ids are
 * deterministic, so running it again while jobs are queued adds nothing, and a half-done run resumes
 * from the store's completion markers. Shards whose jobs failed on every attempt are returned (and
 * written beside the store) as dead letters.
 */
export async function enqueueGenerate(config: RunConfig, options: EnqueueGenerateOptions): Promise<EnqueueGenerateResult> {
  const { Queue } = await loadBullmq();
  const started = performance.now();
  const events = options.events;
  const log = (level: 'info' | 'warn', message: string) => events?.emit('log', { level, source: 'queue', message });
  const registry = options.registry ?? createRegistry();
  const settings = config.generate;
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  const queueName = options.queueName ?? GENERATE_QUEUE;

  const { dataset } = await openGenerateDataset(config, registry, events);
  const storeDir = resolve(generateStoreDir(config));
  const meta = generateStoreMeta(config, dataset.info, generatorName(config, registry));
  const store = await ViewStore.openOrCreate(storeDir, meta, { overwrite: options.overwrite });
  const storeHash = storeHashOf(storeDir, meta);
  // Workers may run elsewhere: they get the store as an absolute path, and the config as plain JSON.
  const queuedConfig = JSON.parse(JSON.stringify({ ...config, generate: { ...settings, store: storeDir } })) as unknown;
  const pending = store.pendingShards();
  const total = store.shardCount;

  const client = await createQueueClient(options.connection);
  const queue = new Queue(queueName, { connection: client as never });
  try {
    // A failed job from an earlier run, or a completed one whose shard was un-marked since (verify
    // --repair, --overwrite), would make the add below a no-op: those are removed first.
    let enqueued = 0;
    const toAdd: number[] = [];
    for (const shard of pending) {
      const job = await queue.getJob(shardJobId(storeHash, shard));
      const state = job ? await job.getState() : 'unknown';
      if (job && (state === 'failed' || state === 'completed')) await job.remove();
      if (!job || state === 'failed' || state === 'completed' || state === 'unknown') toAdd.push(shard);
    }
    const jobs = await queue.addBulk(
      toAdd.map((shard) => ({
        name: GENERATE_JOB_NAME,
        data: { config: queuedConfig, shard, store: storeDir, storeHash } satisfies GenerateJobData,
        opts: {
          jobId: shardJobId(storeHash, shard),
          attempts,
          backoff: { type: 'exponential', delay: options.backoffMs ?? 2000 },
          // Completion lives in the store; a failed job is kept so its error can be reported.
          removeOnComplete: true,
          removeOnFail: false,
        },
      })),
    );
    enqueued = jobs.length;
    log('info', `${storeDir}: ${total - pending.length} of ${total} shards complete; ${enqueued} shard jobs enqueued on ${queueName} (${pending.length - enqueued} already queued).`);
    if (pending.length > 0 && (await queue.getWorkersCount()) === 0) {
      log('info', `no worker is connected yet: start some with \`genview worker --queue <same URL>\`.`);
    }

    const startedDone = total - pending.length;
    const waitStart = performance.now();
    let lastDone = -1;
    let dead: DeadLetter[] = [];
    for (;;) {
      await store.refresh();
      const done = store.completedShards().length;
      const left = store.pendingShards();
      if (done !== lastDone) {
        lastDone = done;
        const views = Math.min(dataset.info.size, done * settings.shardSize) * settings.viewsPerImage;
        events?.emit('progress', { task: 'generate', done: views, total: dataset.info.size * settings.viewsPerImage, unit: 'views' });
        const rate = (done - startedDone) / Math.max(1e-9, (performance.now() - waitStart) / 1000);
        log('info', `${done}/${total} shards · ${views} views · ${rate.toFixed(2)} shards/s · ETA ${formatDuration((total - done) / rate)}`);
      }
      dead = left.length === 0 ? [] : await deadLettersOf(queue, storeHash, new Set(left));
      if (left.length === dead.length) break;
      if (options.timeoutMs !== undefined && performance.now() - started > options.timeoutMs) {
        throw new GenviewError('INTERNAL', `${left.length} of ${total} shards are still not complete after ${(options.timeoutMs / 1000).toFixed(0)} s.`, {
          where: `queue ${queueName}`,
          fix: 'check that workers are running (`genview worker --queue <URL>`) and can read the pipeline and write the store; rerun to keep waiting (nothing is enqueued twice).',
        });
      }
      await new Promise((r) => setTimeout(r, options.pollMs ?? 1000));
    }

    const file = deadLetterPath(storeDir);
    if (dead.length > 0) {
      const report: DeadLetterReport = { store: storeDir, queue: queueName, storeHash, jobs: dead };
      await writeDeadLetters(file, report);
    } else {
      await clearDeadLetters(file);
    }
    return {
      store: storeDir,
      storeHash,
      shardsTotal: total,
      shardsEnqueued: enqueued,
      shardsCompleted: lastDone - startedDone,
      deadLetters: dead,
      deadLetterFile: dead.length > 0 ? file : undefined,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await queue.close();
    await client.quit();
  }
}

/** Failed jobs of this store whose shard is still pending: BullMQ moves a job to "failed" only once its attempts are spent. */
async function deadLettersOf(queue: Pick<import('bullmq').Queue, 'getJobs'>, storeHash: string, pending: Set<number>): Promise<DeadLetter[]> {
  const prefix = `${storeHash}-shard-`;
  const out: DeadLetter[] = [];
  for (const job of await queue.getJobs(['failed'], 0, -1)) {
    if (!job?.id?.startsWith(prefix)) continue;
    const shard = Number(job.id.slice(prefix.length));
    if (!pending.has(shard)) continue;
    out.push({
      jobId: job.id,
      shard,
      attempts: job.attemptsMade,
      lastError: job.failedReason ?? '(no reason recorded)',
      failedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : undefined,
    });
  }
  return out.sort((a, b) => a.shard - b.shard);
}
