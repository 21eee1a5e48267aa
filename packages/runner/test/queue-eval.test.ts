import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventBus, type PluginRef } from '@genview/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConfigSchema } from '../src/config/schema';
import { createQueueClient, loadBullmq } from '../src/queue/connection';
import { enqueueEvalSweep } from '../src/queue/eval-coordinator';
import { EVAL_JOB_NAME, EVAL_QUEUE, evalResultPath, resolveEvaluator, sameEvaluator } from '../src/queue/eval-job';
import { type EvalJobResult, type EvalWorkerHandle, runEvalWorker } from '../src/queue/eval-worker';
import { evaluateFromConfig } from '../src/run/evaluate';
import { readRunConfig } from '../src/run/services';
import { trainFromConfig } from '../src/run/train';
import { type RedisServer, queueSkipReason, startRedis } from './redis-server';

// Real parts: a redis-server of our own on a free loopback port, BullMQ, and two tiny trained runs.
const skipReason = queueSkipReason;
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

const KNN: PluginRef = { name: 'knn', k: [5] };
const PROBE: PluginRef = { name: 'linear-probe', epochs: 2, l2Grid: [0, 0.01] };

function runConfig(outDir: string, seed: number) {
  return runConfigSchema.parse({
    seed,
    outDir,
    data: { train: { name: 'fashion-mnist', split: 'train', limit: 64 }, test: { name: 'fashion-mnist', split: 'test', limit: 40 } },
    framework: { name: 'simclr', backbone: { name: 'small-cnn', widths: [4, 8, 8] }, projector: { name: 'mlp-projector', hiddenDim: 16, outDim: 8 } },
    optimizer: { name: 'sgd' },
    trainer: { steps: 2, batchSize: 16, lr: 0.05, scaleLr: false, logEvery: 1 },
    eval: { evaluators: [KNN], baselines: false },
  });
}

/** What `genview eval` gives for this run with this one evaluator. */
async function evaluateDirectly(runDir: string, ref: PluginRef) {
  const config = readRunConfig(runDir);
  const results = await evaluateFromConfig({ ...config, eval: { ...config.eval, evaluators: [ref] } }, { checkpointDir: runDir, events: new EventBus() });
  return results.results[0];
}

describe('eval-sweep plumbing', () => {
  it('takes a bare evaluator name with the options the run was evaluated with, and explicit options as given', () => {
    const config = runConfig('/tmp/x', 1);
    expect(resolveEvaluator(config, 'knn')).toEqual(KNN);
    expect(resolveEvaluator(config, 'linear-probe')).toBe('linear-probe');
    expect(resolveEvaluator(config, { name: 'knn', k: [7] })).toEqual({ name: 'knn', k: [7] });
    expect(sameEvaluator('knn', { name: 'knn' })).toBe(true);
    expect(sameEvaluator({ k: [5], name: 'knn' }, KNN)).toBe(true);
    expect(sameEvaluator(KNN, { name: 'knn', k: [7] })).toBe(false);
  });
});

describe.skipIf(skipReason !== '')(`genview eval-sweep on a BullMQ queue${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let root: string;
  let redis: RedisServer;
  let workers: EvalWorkerHandle[] = [];
  const run = (name: string) => join(root, 'runs', name);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'genview-queue-eval-'));
    redis = await startRedis();
    await trainFromConfig(runConfig(run('a'), 1), { events: new EventBus() });
    await trainFromConfig(runConfig(run('b'), 2), { events: new EventBus() });
    // A run whose training never reached its first checkpoint: config.json, no last.safetensors.
    await mkdir(run('no-checkpoint'), { recursive: true });
    await copyFile(join(run('a'), 'config.json'), join(run('no-checkpoint'), 'config.json'));
    workers = await Promise.all([0, 1].map(() => runEvalWorker({ connection: redis.url })));
  }, 120_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
    redis?.process.kill('SIGKILL');
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('two workers evaluate 2 runs × 2 evaluators, as genview eval would, into <run>/eval and the --out table', async () => {
    const out = join(root, 'sweep.json');
    const result = await enqueueEvalSweep([run('a'), run('b')], { connection: redis.url, evaluators: [KNN, PROBE], out, pollMs: 50 });
    expect(result).toMatchObject({ jobsTotal: 4, jobsEnqueued: 4, alreadyDone: 0, completed: 4, deadLetters: [] });
    expect(result.deadLetterFile).toBeUndefined();
    const table = JSON.parse(await readFile(out, 'utf8')) as typeof result.report;
    expect(table).toEqual(result.report);
    expect(table.evaluators).toEqual(['knn', 'linear-probe']);
    expect(Object.keys(table.table)).toEqual([run('a'), run('b')]);
    for (const name of ['a', 'b']) {
      for (const ref of [KNN, PROBE]) {
        const evaluator = (ref as { name: string }).name;
        const cell = table.table[run(name)]?.[evaluator];
        const direct = await evaluateDirectly(run(name), ref);
        expect(cell).toMatchObject({ step: 2, encoder: 'simclr', metrics: direct?.metrics, description: direct?.description });
        const file = JSON.parse(await readFile(evalResultPath(run(name), evaluator), 'utf8'));
        expect(file).toMatchObject({ evaluator, ref, checkpoint: { file: 'last.safetensors', step: 2 }, result: direct });
      }
    }
    // Different runs, different encoders: the table does not mix them up.
    expect(table.table[run('a')]?.knn?.metrics).not.toEqual(table.table[run('b')]?.knn?.metrics);
  }, 120_000);

  it('enqueues nothing on a rerun, skips a duplicate job, and rewrites a deleted result with the same bytes', async () => {
    const knnFile = evalResultPath(run('a'), 'knn');
    const before = await readFile(knnFile, 'utf8');
    const mtime = (await stat(knnFile)).mtimeMs;
    const rerun = await enqueueEvalSweep([run('a'), run('b')], { connection: redis.url, evaluators: [KNN, PROBE], pollMs: 50, deadLetterFile: join(root, 'rerun.dead-letter.json') });
    expect(rerun).toMatchObject({ jobsTotal: 4, jobsEnqueued: 0, alreadyDone: 4, completed: 0, deadLetters: [] });
    expect(rerun.report.table[run('a')]?.knn?.step).toBe(2);
    // A bare name resolves to the run's own knn options: the same evaluation, so already done too.
    const bare = await enqueueEvalSweep([run('a')], { connection: redis.url, evaluators: ['knn'], pollMs: 50, deadLetterFile: join(root, 'bare.dead-letter.json') });
    expect(bare).toMatchObject({ jobsEnqueued: 0, alreadyDone: 1 });

    // The same job delivered twice (another id, same data): the worker sees the current result and does nothing.
    const { Queue, QueueEvents } = await loadBullmq();
    const client = await createQueueClient(redis.url);
    const queue = new Queue(EVAL_QUEUE, { connection: client as never });
    const eventsClient = await createQueueClient(redis.url);
    const queueEvents = new QueueEvents(EVAL_QUEUE, { connection: eventsClient as never });
    try {
      await queueEvents.waitUntilReady();
      const job = await queue.add(EVAL_JOB_NAME, { runDir: run('a'), evaluator: KNN }, { jobId: 'duplicate-of-a-knn' });
      const value = (await job.waitUntilFinished(queueEvents, 30_000)) as EvalJobResult;
      expect(value).toMatchObject({ outcome: 'already-current', evaluator: 'knn', step: 2 });
    } finally {
      await queueEvents.close();
      await queue.close();
      await client.quit();
      await eventsClient.quit().catch(() => undefined);
    }
    expect((await stat(knnFile)).mtimeMs).toBe(mtime);

    await rm(knnFile);
    const redo = await enqueueEvalSweep([run('a'), run('b')], { connection: redis.url, evaluators: [KNN, PROBE], pollMs: 50, deadLetterFile: join(root, 'redo.dead-letter.json') });
    expect(redo).toMatchObject({ jobsEnqueued: 1, alreadyDone: 3, completed: 1, deadLetters: [] });
    expect(await readFile(knnFile, 'utf8')).toBe(before);
  }, 120_000);

  it('reports a run without a checkpoint as a dead letter that names the missing file', async () => {
    const out = join(root, 'broken', 'sweep.json');
    const result = await enqueueEvalSweep([run('a'), run('no-checkpoint')], { connection: redis.url, evaluators: [KNN], out, pollMs: 50, attempts: 2, backoffMs: 20 });
    expect(result).toMatchObject({ jobsTotal: 2, jobsEnqueued: 1, alreadyDone: 1 });
    expect(result.deadLetters).toHaveLength(1);
    expect(result.deadLetters[0]).toMatchObject({ run: run('no-checkpoint'), evaluator: 'knn', attempts: 2 });
    expect(result.deadLetters[0]?.lastError).toContain(join(run('no-checkpoint'), 'last.safetensors'));
    expect(result.deadLetterFile).toBe(join(root, 'broken', 'sweep.dead-letter.json'));
    const report = JSON.parse(await readFile(result.deadLetterFile ?? '', 'utf8')) as { jobs: { jobId: string; lastError: string }[] };
    expect(report.jobs.map((j) => j.jobId)).toEqual(result.deadLetters.map((d) => d.jobId));
    const table = JSON.parse(await readFile(out, 'utf8')) as typeof result.report;
    expect(table.table[run('no-checkpoint')]).toEqual({ knn: null });
    expect(table.table[run('a')]?.knn?.step).toBe(2);
    expect(table.deadLetters).toEqual(result.deadLetters);
  }, 60_000);

  it.skipIf(!existsSync(CLI))('the built CLI: one `genview worker` serves eval jobs, `genview eval-sweep` writes the table', async () => {
    await rm(evalResultPath(run('b'), 'knn'));
    await Promise.all(workers.splice(0).map((w) => w.close()));
    const worker = spawn('node', [CLI, 'worker', '--queue', redis.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let workerOut = '';
    // Its status lines are logs: stderr.
    worker.stderr?.on('data', (chunk: Buffer) => {
      workerOut += chunk.toString();
    });
    worker.stdout?.resume();
    try {
      const out = join(root, 'cli-sweep.json');
      const sweep = spawn('node', [CLI, 'eval-sweep', '--queue', redis.url, '--runs', `${run('a')},${run('b')}`, '--evaluators', 'knn', '--out', out, '--plain'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let sweepOut = '';
      sweep.stdout?.on('data', (chunk: Buffer) => {
        sweepOut += chunk.toString();
      });
      sweep.stderr?.on('data', (chunk: Buffer) => {
        sweepOut += chunk.toString();
      });
      const code = await new Promise<number | null>((resolve) => sweep.on('exit', resolve));
      expect(code, sweepOut).toBe(0);
      expect(sweepOut).toContain('2 evaluations: 1 already done, 1 done by workers this run (1 enqueued)');
      const table = JSON.parse(await readFile(out, 'utf8')) as { table: Record<string, Record<string, { metrics: Record<string, number> } | null>> };
      expect(table.table[run('b')]?.knn?.metrics).toEqual((await evaluateDirectly(run('b'), KNN))?.metrics);
      expect(workerOut).toContain('taking shard and evaluation jobs');
    } finally {
      const exit = new Promise<number | null>((resolve) => worker.on('exit', resolve));
      worker.kill('SIGTERM');
      expect(await exit).toBe(0);
    }
  }, 120_000);
});
