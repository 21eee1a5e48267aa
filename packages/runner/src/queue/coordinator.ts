import { resolve } from 'node:path';
import { type EventBus, GenviewError, type PluginRef, type Registry } from '@genview/core';
import { ViewStore } from '@genview/views';
import type { RunConfig } from '../config/schema';
import { createRegistry } from '../registry';
import { generateStoreDir, generateStoreMeta, openGenerateDataset } from '../run/generate';
import { GENERATE_QUEUE, type QueueConnection, createQueueClient, loadBullmq } from './connection';
import { type DeadLetter, type DeadLetterReport, clearDeadLetters, deadLetterPath, failedJobsOf, writeDeadLetters } from './dead-letter';
import { GENERATE_JOB_NAME, type GenerateJobData, shardJobId, storeHashOf } from './job';
import { addJobsOnce, waitUntilSettled } from './coordination';

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
 * A bundled alias (`path: tiny-unclip`) stays unresolved here for the same reason: the workers, not the
 * coordinator's machine, need the model package.
 */
function generatorName(config: RunConfig, registry: Registry): string {
  const ref = config.generate.generator as PluginRef;
  const plugin = registry.resolve('generator', refName(ref), 'generate.generator');
  const { name: _name, ...options } = typeof ref === 'string' ? { name: ref } : ref;
  registry.validate(plugin, options, 'generate.generator');
  return plugin.name;
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
  const store = await ViewStore.openOrCreate(storeDir, meta, { overwrite: options.overwrite, events });
  const storeHash = storeHashOf(storeDir, meta);
  // Workers may run elsewhere: they get the store as an absolute path, and the config as plain JSON.
  const queuedConfig = JSON.parse(JSON.stringify({ ...config, generate: { ...settings, store: storeDir } })) as unknown;
  const pending = store.pendingShards();
  const total = store.shardCount;

  const client = await createQueueClient(options.connection);
  const queue = new Queue(queueName, { connection: client as never });
  try {
    const enqueued = await addJobsOnce(
      queue,
      pending.map((shard) => ({
        name: GENERATE_JOB_NAME,
        jobId: shardJobId(storeHash, shard),
        data: { config: queuedConfig, shard, store: storeDir, storeHash } satisfies GenerateJobData,
      })),
      { attempts, backoffMs: options.backoffMs ?? 2000 },
    );
    log('info', `${storeDir}: ${total - pending.length} of ${total} shards complete; ${enqueued} shard jobs enqueued on ${queueName} (${pending.length - enqueued} already queued).`);
    if (pending.length > 0 && (await queue.getWorkersCount()) === 0) {
      log('info', `no worker is connected yet: start some with \`genview worker --queue <same URL>\`.`);
    }

    const startedDone = total - pending.length;
    const { done, dead } = await waitUntilSettled<DeadLetter>({
      total,
      startedDone,
      unit: 'shards',
      async check() {
        await store.refresh();
        const left = store.pendingShards();
        return { done: store.completedShards().length, left: left.length, dead: left.length === 0 ? [] : await deadLettersOf(queue, storeHash, new Set(left)) };
      },
      onProgress(done) {
        const views = Math.min(dataset.info.size, done * settings.shardSize) * settings.viewsPerImage;
        events?.emit('progress', { task: 'generate', done: views, total: dataset.info.size * settings.viewsPerImage, unit: 'views' });
        return `${views} views`;
      },
      log: (message) => log('info', message),
      started,
      pollMs: options.pollMs,
      timeoutMs: options.timeoutMs,
      timeoutError: (left) =>
        new GenviewError('INTERNAL', `${left} of ${total} shards are still not complete after ${((options.timeoutMs ?? 0) / 1000).toFixed(0)} s.`, {
          where: `queue ${queueName}`,
          fix: 'check that workers are running (`genview worker --queue <URL>`) and can read the pipeline and write the store; rerun to keep waiting (nothing is enqueued twice).',
        }),
    });

    // Completion is read from the markers, and a worker publishes index.json only after its marker: the
    // last worker may still be writing the summary. Rebuild it here so the store is whole when we return.
    await store.syncIndex();
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
      shardsCompleted: done - startedDone,
      deadLetters: dead,
      deadLetterFile: dead.length > 0 ? file : undefined,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await queue.close();
    await client.quit();
  }
}

/** Failed jobs of this store whose shard is still pending. */
async function deadLettersOf(queue: Pick<import('bullmq').Queue, 'getJobs'>, storeHash: string, pending: Set<number>): Promise<DeadLetter[]> {
  const prefix = `${storeHash}-shard-`;
  const dead = await failedJobsOf(queue, (jobId) => {
    if (!jobId.startsWith(prefix)) return undefined;
    const shard = Number(jobId.slice(prefix.length));
    return pending.has(shard) ? { shard } : undefined;
  });
  return dead.sort((a, b) => a.shard - b.shard);
}
