import { GenviewError } from '@genview/core';
import type { Redis, RedisOptions } from 'ioredis';

/** The BullMQ module, typed from the optional peer (a type-only import: nothing is loaded until `loadBullmq`). */
export type Bullmq = typeof import('bullmq');

/** Where the queue lives: a parsed Redis address. */
export interface QueueAddress {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: boolean;
}

/** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS), or the address parsed. */
export type QueueConnection = string | QueueAddress;

/** Default BullMQ queue name for `genview generate` jobs (BullMQ forbids ':' in it). */
export const GENERATE_QUEUE = 'genview-generate';

function isMissingModule(error: unknown, name: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((error as Error).message).includes(name);
}

/**
 * bullmq is an optional peer of @genview/runner: only queue runs need it, so it is imported here, on
 * first use, and its absence becomes an error that says what to install. `importer` is for tests.
 */
export async function loadBullmq(importer: () => Promise<unknown> = () => import('bullmq')): Promise<Bullmq> {
  try {
    return (await importer()) as Bullmq;
  } catch (error) {
    if (!isMissingModule(error, 'bullmq')) throw error;
    throw new GenviewError('BACKEND_UNAVAILABLE', 'queue runs (--queue, genview worker) need the bullmq package, which is not installed.', {
      where: 'bullmq',
      fix: 'run `npm install bullmq ioredis` (optional peers of @genview/runner), or drop --queue to generate in this process.',
      cause: error,
    });
  }
}

export function parseQueueUrl(url: string): QueueAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    parsed = new URL('invalid://');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new GenviewError('INVALID_CONFIG', `"${url}" is not a Redis URL.`, {
      where: '--queue',
      fix: 'write it as redis://host:port (redis://:password@host:port/db with a password and database, rediss:// for TLS).',
    });
  }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : undefined;
  if (db !== undefined && !Number.isInteger(db)) {
    throw new GenviewError('INVALID_CONFIG', `"${parsed.pathname.slice(1)}" in ${url} is not a database number.`, { where: '--queue', fix: 'e.g. redis://localhost:6379/0' });
  }
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db,
    tls: parsed.protocol === 'rediss:',
  };
}

type RedisConstructor = new (options: RedisOptions) => Redis;

/** ioredis, BullMQ's Redis driver: an optional peer too (BullMQ 6 no longer bundles a driver). */
export async function loadRedis(importer: () => Promise<unknown> = () => import('ioredis')): Promise<RedisConstructor> {
  try {
    const mod = (await importer()) as { default?: unknown; Redis?: unknown };
    return (mod.Redis ?? mod.default) as RedisConstructor;
  } catch (error) {
    if (!isMissingModule(error, 'ioredis')) throw error;
    throw new GenviewError('BACKEND_UNAVAILABLE', 'queue runs (--queue, genview worker) need the ioredis package, which is not installed.', {
      where: 'ioredis',
      fix: 'run `npm install bullmq ioredis` (optional peers of @genview/runner), or drop --queue to generate in this process.',
      cause: error,
    });
  }
}

/**
 * A Redis client for BullMQ. Handing BullMQ a ready ioredis instance (rather than options) keeps its
 * own driver loading, which relies on require(), out of ESM builds; BullMQ duplicates the client for
 * the blocking connection a worker needs. `maxRetriesPerRequest: null` is what BullMQ workers require:
 * commands wait through a reconnect instead of failing.
 */
export async function createQueueClient(connection: QueueConnection): Promise<Redis> {
  const Client = await loadRedis();
  const address = typeof connection === 'string' ? parseQueueUrl(connection) : connection;
  const { tls, ...rest } = address;
  const client = new Client({ ...rest, ...(tls ? { tls: {} } : {}), maxRetriesPerRequest: null });
  // BullMQ listens while it uses the client; this keeps a socket error after it let go from crashing the process.
  client.on('error', () => undefined);
  return client;
}
