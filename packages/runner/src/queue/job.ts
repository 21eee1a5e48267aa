import { resolve } from 'node:path';
import { GenviewError } from '@genview/core';
import { type StoreMetaInput, configHash } from '@genview/views';
import { type RunConfig, runConfigSchema } from '../config/schema';

/** What one queued shard carries: the whole run config, so a worker needs nothing but the queue and the store's file system. */
export interface GenerateJobData {
  /** The run config as JSON; the worker validates it again with runConfigSchema. */
  config: unknown;
  shard: number;
  /** The store's absolute path; workers must see the same directory (a shared file system). */
  store: string;
  storeHash: string;
}

export const GENERATE_JOB_NAME = 'generate-shard';

/**
 * Identifies one store: its location and the meta it was created with. Two different runs therefore
 * never share job ids, while re-enqueueing the same run finds its own jobs again.
 */
export function storeHashOf(storeDir: string, meta: StoreMetaInput): string {
  return configHash({ store: resolve(storeDir), meta });
}

/** Deterministic, so BullMQ ignores a second add of a job that still exists (no ':' — BullMQ reserves it). */
export function shardJobId(storeHash: string, shard: number): string {
  return `${storeHash}-shard-${String(shard).padStart(6, '0')}`;
}

/** A job's config as the worker trusts it: parsed again, never taken as it came off the queue. */
export function parseJobData(data: unknown, jobId: string | undefined): { config: RunConfig; shard: number; store: string } {
  const job = data as Partial<GenerateJobData> | null;
  const where = `queue job ${jobId ?? '(no id)'}`;
  if (!job || typeof job !== 'object' || !Number.isInteger(job.shard) || typeof job.store !== 'string') {
    throw new GenviewError('BAD_INPUT', 'the job data is not a genview generate shard job ({ config, shard, store, storeHash }).', {
      where,
      fix: 'enqueue shards with `genview generate --queue` (or enqueueGenerate); do not share the queue with other producers.',
    });
  }
  const parsed = runConfigSchema.safeParse(job.config);
  if (!parsed.success) {
    throw new GenviewError('INVALID_CONFIG', `the run config in the job is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`, {
      where,
      fix: 'the coordinator and the workers must run the same @genview/runner version.',
    });
  }
  return { config: parsed.data, shard: job.shard as number, store: job.store };
}
