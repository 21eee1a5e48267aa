import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type EventBus, GenviewError, type Registry, writeFileAtomic } from '@genview/core';
import type { RunConfig } from '../config/schema';
import { createRegistry } from '../registry';
import { evaluateFromConfig } from '../run/evaluate';
import { readRunConfig } from '../run/services';
import { type QueueConnection, createQueueClient, loadBullmq } from './connection';
import {
  EVAL_QUEUE,
  type EvalJobData,
  type EvalResultFile,
  checkpointIdentity,
  runCheckpointFile,
  evalResultPath,
  evaluatorName,
  isCurrentResult,
  parseEvalJobData,
  readEvalResult,
  resolveEvaluator,
} from './eval-job';
import type { GenerateWorkerHandle } from './worker';

export interface EvalWorkerOptions {
  connection: QueueConnection;
  /** Evaluations run at once by this process. */
  concurrency?: number;
  queueName?: string;
  events?: EventBus;
  registry?: Registry;
  /** As for the generate worker: a dead worker's evaluation is taken over after about this long. */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
}

export interface EvalJobResult {
  runDir: string;
  evaluator: string;
  /** 'already-current': the result file already held this evaluator's result for this checkpoint. */
  outcome: 'written' | 'already-current';
  step: number;
  file: string;
}

export type EvalWorkerHandle = GenerateWorkerHandle;

/**
 * One evaluation job, as a worker runs it: rebuilds the run from its saved config, loads its last
 * checkpoint and runs one evaluator, exactly as `genview eval` would with that evaluator alone
 * (evaluateFromConfig with eval.evaluators = [evaluator] and no fine-tuning), then writes
 * `<runDir>/eval/<evaluator>.json` atomically. A result already on disk for the same checkpoint and
 * evaluator is kept and the job does nothing; a repeated job writes the same bytes.
 */
export async function runEvalJob(job: EvalJobData, options: { events?: EventBus; registry?: Registry } = {}): Promise<EvalJobResult> {
  const { runDir } = job;
  const config = readRunConfig(runDir);
  const ref = resolveEvaluator(config, job.evaluator);
  const name = evaluatorName(ref);
  const file = evalResultPath(runDir, name);
  const checkpointFile = runCheckpointFile(runDir);
  const before = checkpointIdentity(runDir, checkpointFile);
  if (!before) {
    throw new GenviewError('CHECKPOINT', `no checkpoint at ${join(runDir, checkpointFile)}.`, {
      where: runDir,
      fix: 'evaluate a run once `genview train` has written its checkpoint, or leave the directory out of --runs.',
    });
  }
  if (isCurrentResult(readEvalResult(file), ref, before)) return { runDir, evaluator: name, outcome: 'already-current', step: before.step, file };

  const single: RunConfig = { ...config, eval: { ...config.eval, evaluators: [ref], finetune: undefined } };
  const evaluated = await evaluateFromConfig(single, { events: options.events, registry: options.registry, checkpointDir: runDir, encoders: 'trained' });
  const after = checkpointIdentity(runDir, checkpointFile);
  if (after?.step !== before.step || after.configHash !== before.configHash) {
    // Training wrote a new checkpoint meanwhile: which one was evaluated is unknown. The retry evaluates the new one.
    throw new GenviewError('CHECKPOINT', `the checkpoint of ${runDir} changed while it was evaluated (step ${before.step} → ${after?.step ?? 'none'}).`, {
      where: join(runDir, checkpointFile),
      fix: 'nothing to do: the job is retried on the new checkpoint; sweep runs after they finish training to avoid this.',
    });
  }
  const result = evaluated.results[0];
  if (!result) throw new GenviewError('INTERNAL', `evaluator ${name} returned no result.`, { where: runDir });
  const content: EvalResultFile = { evaluator: name, ref, checkpoint: { file: checkpointFile, ...before }, encoder: evaluated.encoder, result };
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify(content, null, 2)}\n`);
  return { runDir, evaluator: name, outcome: 'written', step: before.step, file };
}

/** The eval half of `genview worker`: takes evaluation jobs off the eval queue (see runEvalJob). */
export async function runEvalWorker(options: EvalWorkerOptions): Promise<EvalWorkerHandle> {
  const { Worker, UnrecoverableError } = await loadBullmq();
  const events = options.events;
  const log = (level: 'info' | 'warn', message: string) => events?.emit('log', { level, source: 'eval-worker', message });
  const registry = options.registry ?? createRegistry();
  const client = await createQueueClient(options.connection);
  const worker = new Worker<unknown, EvalJobResult>(
    options.queueName ?? EVAL_QUEUE,
    async (job) => {
      let data: EvalJobData;
      try {
        data = parseEvalJobData(job.data, job.id);
      } catch (error) {
        // A malformed job fails the same way on every attempt: straight to the dead letters.
        throw new UnrecoverableError((error as Error).message);
      }
      const started = performance.now();
      const result = await runEvalJob(data, { events, registry });
      await job.updateProgress(100);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      log('info', `${result.runDir} · ${result.evaluator}: ${result.outcome === 'written' ? `evaluated in ${seconds} s` : 'already evaluated; skipped'} (step ${result.step}, job ${job.id}).`);
      return result;
    },
    {
      connection: client as never,
      concurrency: options.concurrency ?? 1,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
    },
  );
  worker.on('error', (error) => log('warn', `queue: ${error.message}`));
  worker.on('failed', (job, error) => {
    if (!job) return;
    const cause = String(error?.message ?? error);
    const data = job.data as Partial<EvalJobData> | undefined;
    log('warn', `job ${job.id} (${data?.runDir} · ${data?.evaluator ? evaluatorName(data.evaluator) : '?'}) failed on attempt ${job.attemptsMade}: ${cause}`);
  });
  await worker.waitUntilReady();
  let closing: Promise<void> | undefined;
  return {
    close(force = false) {
      closing ??= (async () => {
        try {
          await worker.close(force);
        } finally {
          await client.quit();
        }
      })();
      return closing;
    },
  };
}
