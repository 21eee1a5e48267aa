// Queue benchmark: `genview generate` of the same store (a) in one process, (b) by a coordinator and
// one `genview worker` process of the built CLI, (c) by a coordinator and two worker processes, all
// on a redis-server of its own. Prints shards/s for each, the scaling efficiency of two workers
// (rate with 2 / (2 × rate with 1)) and the queue overhead per job with one worker
// ((queued wall time − single-process wall time) / jobs). Every process is warmed up first (modules,
// backend, ONNX runtime) with an untimed throwaway store; each timed run still loads its pipeline once.
// Uses the tiny random pipeline fixture by default, so it measures the queue machinery more than the
// model; --pipeline packages/model-tiny-unclip/pipeline gives jobs a trained model's real cost.
// Needs redis-server, bullmq and ioredis, and a build:
//
//   npx nx run @genview/runner:build && node bench/queue.mjs --images 96 --shard-size 8
//
// Options: --images N (96), --shard-size N (8), --steps N (2 denoising steps), --threads N (1 per
// process), --redis PATH (/usr/bin/redis-server), --pipeline DIR (the tiny random fixture).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  return args;
}

const args = parseArgs(process.argv.slice(2));
const images = Number(args.images ?? 96);
const shardSize = Number(args['shard-size'] ?? 8);
const steps = Number(args.steps ?? 2);
const threads = Number(args.threads ?? 1);
const redisServer = args.redis ?? '/usr/bin/redis-server';
const CLI = fileURLToPath(new URL('../packages/runner/dist/cli.js', import.meta.url));
const PIPELINE = args.pipeline ?? fileURLToPath(new URL('../packages/views/test/fixtures/tiny-random-unclip', import.meta.url));
const pipelineLabel = args.pipeline ? args.pipeline : 'tiny random pipeline';

for (const [path, fix] of [
  [CLI, 'build it first: npx nx run @genview/runner:build'],
  [redisServer, 'install redis-server, or pass --redis PATH'],
  [PIPELINE, 'run from a checkout of the repository'],
]) {
  if (!existsSync(path)) {
    console.error(`bench/queue.mjs: ${path} is missing; ${fix}.`);
    process.exit(1);
  }
}

const { generateFromConfig, runConfigSchema } = await import('@genview/runner');
const { enqueueGenerate } = await import('@genview/runner/queue');

function config(store, limit = images) {
  return runConfigSchema.parse({
    seed: 11,
    outDir: store,
    generate: {
      generator: { name: 'onnx-diffusion', path: PIPELINE, steps, threads },
      conditioning: { name: 'genview-adaptive-noise', strategy: 'random', levels: [0, 300] },
      store,
      viewsPerImage: 2,
      shardSize,
      batchSize: shardSize,
      limit,
    },
  });
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function startRedis() {
  const port = await freePort();
  const child = spawn(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
  });
  return { url: `redis://127.0.0.1:${port}`, child };
}

/** Worker processes of the built CLI, resolved once each says it is taking jobs (start-up is not timed). */
async function startWorkers(count, url) {
  const workers = [];
  for (let i = 0; i < count; i++) {
    const child = spawn(process.execPath, [CLI, 'worker', '--queue', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (chunk) => {
      log += chunk.toString();
    });
    await new Promise((resolve, reject) => {
      // The worker's status lines are logs: stderr.
      child.stderr.on('data', (chunk) => {
        log += chunk.toString();
        if (log.includes('worker: taking')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready:\n${log}`)));
    });
    workers.push(child);
  }
  return workers;
}

async function stopWorkers(workers) {
  await Promise.all(
    workers.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.on('exit', resolve);
          child.kill('SIGTERM');
        }),
    ),
  );
}

async function shardDigests(store) {
  const index = JSON.parse(await readFile(join(store, 'index.json'), 'utf8'));
  return JSON.stringify(index.shards.map(({ shard, sha256 }) => [shard, sha256]));
}

async function queued(workerCount, store, url) {
  const workers = await startWorkers(workerCount, url);
  try {
    // Warm-up, untimed, as for the single process: one shard per worker (most likely) of a throwaway store.
    await enqueueGenerate(config(`${store}-warm-up`, shardSize * workerCount), { connection: url, pollMs: 20 });
    const started = performance.now();
    const result = await enqueueGenerate(config(store), { connection: url, pollMs: 20 });
    const seconds = (performance.now() - started) / 1000;
    if (result.deadLetters.length > 0) throw new Error(`${result.deadLetters.length} shard jobs failed: ${result.deadLetters[0].lastError}`);
    return { seconds, shards: result.shardsCompleted };
  } finally {
    await stopWorkers(workers);
  }
}

const root = await mkdtemp(join(tmpdir(), 'genview-bench-queue-'));
const redis = await startRedis();
try {
  // Warm-up: module loading and backend selection happen once per process; the workers do theirs before they are timed.
  await generateFromConfig(config(join(root, 'warm-up'), shardSize));
  const single = await (async () => {
    const started = performance.now();
    const result = await generateFromConfig(config(join(root, 'single')));
    return { seconds: (performance.now() - started) / 1000, shards: result.shardsWritten };
  })();
  const one = await queued(1, join(root, 'one-worker'), redis.url);
  const two = await queued(2, join(root, 'two-workers'), redis.url);
  const reference = await shardDigests(join(root, 'single'));
  const identical = (await shardDigests(join(root, 'one-worker'))) === reference && (await shardDigests(join(root, 'two-workers'))) === reference;

  const rate = (r) => r.shards / r.seconds;
  const efficiency = rate(two) / (2 * rate(one));
  const overheadMs = (1000 * (one.seconds - single.seconds)) / one.shards;
  const line = (label, r) => `${label.padEnd(28)} ${rate(r).toFixed(2).padStart(7)} shards/s  (${r.shards} shards in ${r.seconds.toFixed(2)} s)`;
  console.log(`queue: ${images} images, shards of ${shardSize}, 2 views per image, ${steps} steps, ${threads} thread(s) per process (${pipelineLabel})`);
  console.log(line('single process', single));
  console.log(line('coordinator + 1 worker', one));
  console.log(line('coordinator + 2 workers', two));
  console.log(`scaling efficiency (2 workers): ${(100 * efficiency).toFixed(0)} %`);
  const jobMs = (1000 * single.seconds) / single.shards;
  console.log(`queue overhead per job (1 worker): ${overheadMs.toFixed(0)} ms, against ${jobMs.toFixed(0)} ms of work per shard job (${((100 * overheadMs) / jobMs).toFixed(1)} %)`);
  console.log(`stores identical to the single-process run: ${identical ? 'yes' : 'NO'}`);
  console.log(
    JSON.stringify({
      images,
      shardSize,
      steps,
      pipeline: pipelineLabel,
      single: { shardsPerS: rate(single), seconds: single.seconds },
      oneWorker: { shardsPerS: rate(one), seconds: one.seconds },
      twoWorkers: { shardsPerS: rate(two), seconds: two.seconds },
      scalingEfficiency: efficiency,
      queueOverheadMsPerJob: overheadMs,
      jobMs,
      identical,
    }),
  );
  if (!identical) process.exitCode = 1;
} finally {
  redis.child.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
}
