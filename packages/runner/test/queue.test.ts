import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConfigSchema } from '../src/config/schema';
import { createQueueClient, loadBullmq, parseQueueUrl } from '../src/queue/connection';
import { enqueueGenerate } from '../src/queue/coordinator';
import { deadLetterPath } from '../src/queue/dead-letter';
import { type GenerateWorkerHandle, runGenerateWorker } from '../src/queue/worker';
import { generateFromConfig } from '../src/run/generate';
import { type RedisServer, queueSkipReason, startRedis } from './redis-server';

// Real parts: a redis-server of our own on a free loopback port, BullMQ, and the tiny random ONNX pipeline.
const PIPELINE = fileURLToPath(new URL('../../views/test/fixtures/tiny-random-unclip', import.meta.url));
const skipReason = queueSkipReason;

const IMAGES = 24;
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
function config(store: string, generator: Record<string, unknown> = {}, limit = IMAGES, shardSize = 8) {
  return runConfigSchema.parse({
    seed: 11,
    outDir: store,
    generate: {
      generator: { name: 'onnx-diffusion', path: PIPELINE, steps: 2, threads: 1, ...generator },
      conditioning: { name: 'genview-adaptive-noise', strategy: 'random', levels: [0, 300] },
      store,
      viewsPerImage: 2,
      shardSize,
      batchSize: 8,
      limit,
    },
  });
}

/** The store's shards as the index records them, and each tar's own sha256. */
async function shardDigests(dir: string): Promise<{ index: { shard: number; sha256: string }[]; files: Record<string, string> }> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { shards: { shard: number; sha256: string }[] };
  const files: Record<string, string> = {};
  for (const name of (await readdir(join(dir, 'shards'))).sort()) {
    files[name] = createHash('sha256').update(await readFile(join(dir, 'shards', name))).digest('hex');
  }
  return { index: index.shards.map(({ shard, sha256 }) => ({ shard, sha256 })), files };
}

describe('queue plumbing', () => {
  it('names the package to install when bullmq is missing', async () => {
    const missing = Object.assign(new Error("Cannot find package 'bullmq' imported from x"), { code: 'ERR_MODULE_NOT_FOUND' });
    await expect(loadBullmq(() => Promise.reject(missing))).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringContaining('npm install bullmq') });
  });

  it('reads redis URLs and refuses others', () => {
    expect(parseQueueUrl('redis://:s3cret@queue.local:6380/2')).toMatchObject({ host: 'queue.local', port: 6380, password: 's3cret', db: 2, tls: false });
    expect(() => parseQueueUrl('http://x')).toThrow(/redis:\/\/host:port/);
  });
});

describe.skipIf(skipReason !== '')(`genview generate on a BullMQ queue${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let root: string;
  let redis: RedisServer;
  let workers: GenerateWorkerHandle[] = [];
  const reference = () => join(root, 'reference');

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'genview-queue-'));
    redis = await startRedis();
    await generateFromConfig(config(reference()));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
    redis?.process.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });

  it('two workers and a coordinator write the bytes of a single-process run', async () => {
    workers = await Promise.all([0, 1].map(() => runGenerateWorker({ connection: redis.url })));
    const dir = join(root, 'queued');
    const result = await enqueueGenerate(config(dir), { connection: redis.url, pollMs: 50 });
    expect(result).toMatchObject({ shardsTotal: 3, shardsEnqueued: 3, shardsCompleted: 3, deadLetters: [] });
    const queued = await shardDigests(dir);
    expect(queued.index).toHaveLength(3);
    expect(queued).toEqual(await shardDigests(reference()));
  }, 60_000);

  it('enqueues nothing for a complete store and succeeds', async () => {
    const result = await enqueueGenerate(config(join(root, 'queued')), { connection: redis.url, pollMs: 50 });
    expect(result).toMatchObject({ shardsEnqueued: 0, shardsCompleted: 0, deadLetters: [] });
  }, 30_000);

  it('reports shards that fail on every attempt as dead letters, with their cause', async () => {
    const dir = join(root, 'broken');
    const broken = config(dir, { path: join(root, 'no-such-pipeline') });
    const result = await enqueueGenerate(broken, { connection: redis.url, pollMs: 50, attempts: 2, backoffMs: 20 });
    expect(result.deadLetters.map((d) => [d.shard, d.attempts])).toEqual([
      [0, 2],
      [1, 2],
      [2, 2],
    ]);
    expect(result.deadLetters[0]?.lastError).toMatch(/no-such-pipeline/);
    expect(result.deadLetterFile).toBe(deadLetterPath(dir));
    const report = JSON.parse(await readFile(deadLetterPath(dir), 'utf8')) as { jobs: { jobId: string }[] };
    expect(report.jobs.map((j) => j.jobId)).toEqual(result.deadLetters.map((d) => d.jobId));
  }, 60_000);
});

describe.skipIf(skipReason !== '' || !existsSync(CLI))('worker processes of the built CLI, one killed and one cut off from Redis', () => {
  let root: string;
  let redis: RedisServer;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'genview-queue-cli-'));
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    redis?.process.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });

  it('completes every shard exactly once, identical to a single-process run, and stops on SIGTERM with 0', async () => {
    await generateFromConfig(config(join(root, 'reference'), {}, 48, 4));
    // A short lock, so the killed worker's shard is taken over as stalled within the test.
    for (let i = 0; i < 3; i++) {
      const child = spawn('node', [CLI, 'worker', '--queue', redis.url, '--lock-ms', '1500'], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.resume();
      child.stderr?.resume();
      children.push(child);
    }
    const dir = join(root, 'queued');
    const running = enqueueGenerate(config(dir, {}, 48, 4), { connection: redis.url, pollMs: 50, backoffMs: 50 });
    const markers = join(dir, 'done');
    // Once shards are being written: SIGKILL one worker, and cut every client connection once (workers reconnect).
    for (let i = 0; i < 600 && !(existsSync(markers) && (await readdir(markers)).length >= 2); i++) await new Promise((r) => setTimeout(r, 25));
    children[0]?.kill('SIGKILL');
    const admin = await createQueueClient(redis.url);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal').catch(() => undefined);
    await admin.quit();
    const result = await running;
    expect(result.deadLetters).toEqual([]);
    expect(result.shardsTotal).toBe(12);
    const queued = await shardDigests(dir);
    expect(queued.index.map((s) => s.shard)).toEqual([...Array(12).keys()]);
    expect(queued).toEqual(await shardDigests(join(root, 'reference')));
    const exits = children.slice(1).map((child) => new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code))));
    for (const child of children.slice(1)) child.kill('SIGTERM');
    expect(await Promise.all(exits)).toEqual([0, 0]);
  }, 120_000);
});
