import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type EvalResult, GenviewError, type PluginRef } from '@genview/core';
import { configHash } from '@genview/views';
import { pluginRefSchema, type RunConfig } from '../config/schema';
import { LAST_CHECKPOINT } from '../trainer/checkpoint';
import { lastStageCheckpoint } from '../trainer/stages';

/** BullMQ queue of `genview eval-sweep` jobs; `genview worker` serves it beside the generate queue. */
export const EVAL_QUEUE = 'genview-eval';

export const EVAL_JOB_NAME = 'eval-run';

/** One queued evaluation: a run directory (absolute; workers must see it) and one evaluator. */
export interface EvalJobData {
  runDir: string;
  /** The evaluator as the sweep asked for it; the worker resolves it against the run's config (resolveEvaluator). */
  evaluator: PluginRef;
}

/** Where a worker writes a run's result for one evaluator: `<runDir>/eval/<evaluator>.json`. */
export const EVAL_RESULTS_DIR = 'eval';

/** The checkpoint an evaluation was made of: its step and the training config hash the trainer stamped on it. */
export interface CheckpointIdentity {
  step: number;
  configHash: string;
}

/** What `<runDir>/eval/<evaluator>.json` holds. Nothing in it depends on when or where it was written, so a rerun writes the same bytes. */
export interface EvalResultFile {
  evaluator: string;
  /** The evaluator with its options, as it ran. */
  ref: PluginRef;
  checkpoint: CheckpointIdentity & { file: string };
  /** The framework whose encoder was evaluated. */
  encoder: string;
  result: EvalResult;
}

export function evaluatorName(ref: PluginRef): string {
  return typeof ref === 'string' ? ref : ref.name;
}

/** A plugin name as a file name: anything but letters, digits, '.', '_' and '-' becomes '_'. */
function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

export function evalResultPath(runDir: string, evaluator: string): string {
  return join(runDir, EVAL_RESULTS_DIR, `${fileSafe(evaluator)}.json`);
}

/** Deterministic per (run directory, evaluator as asked), so BullMQ ignores a second add of a job that still exists. */
export function evalJobId(runDir: string, evaluator: PluginRef): string {
  return `eval-${fileSafe(evaluatorName(evaluator))}-${configHash({ runDir: resolve(runDir), evaluator })}`;
}

/**
 * The evaluator a job runs: options given with the name are used as given; a bare name takes the
 * options the run itself was evaluated with (its config's eval.evaluators), else the plugin's defaults.
 */
export function resolveEvaluator(config: RunConfig, requested: PluginRef): PluginRef {
  if (typeof requested !== 'string') return requested;
  const own = (config.eval.evaluators as PluginRef[]).find((ref) => evaluatorName(ref) === requested);
  return own ?? requested;
}

/** Plugin refs compared by content (key order aside): `"knn"` and `{ name: "knn" }` are the same evaluator. */
export function sameEvaluator(a: PluginRef, b: PluginRef): boolean {
  const norm = (ref: PluginRef) => (typeof ref === 'string' ? { name: ref } : ref);
  return configHash(norm(a)) === configHash(norm(b));
}

/**
 * The checkpoint that stands for a run's trained encoder, relative to the run directory: last.safetensors,
 * or for a multi-stage run the last stage's, stage-<S>/last.safetensors, which is written only after
 * every earlier stage has finished.
 */
export function runCheckpointFile(runDir: string): string {
  return lastStageCheckpoint(runDir) ?? LAST_CHECKPOINT;
}

/**
 * The step and config hash of a run's last checkpoint, read from the safetensors header alone (the
 * tensors are not read); undefined when there is no checkpoint file. `file` (relative to runDir) saves
 * re-reading the run's config when the caller already resolved it with runCheckpointFile.
 */
export function checkpointIdentity(runDir: string, file: string = runCheckpointFile(runDir)): CheckpointIdentity | undefined {
  const path = join(runDir, file);
  if (!existsSync(path)) return undefined;
  const unreadable = (why: string) =>
    new GenviewError('UNREADABLE_FILE', `${path} is not a readable checkpoint: ${why}.`, { where: path, fix: 'train the run again, or restore the file.' });
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(8);
    if (readSync(fd, head, 0, 8, 0) < 8) throw unreadable('it is shorter than a safetensors header');
    const length = Number(head.readBigUInt64LE(0));
    if (length > 100 * 1024 * 1024) throw unreadable(`its header length field says ${length} bytes`);
    const header = Buffer.alloc(length);
    if (readSync(fd, header, 0, length, 8) < length) throw unreadable('its header is truncated');
    let meta: Record<string, unknown> | undefined;
    try {
      meta = (JSON.parse(header.toString('utf8')) as { __metadata__?: Record<string, unknown> }).__metadata__;
    } catch {
      throw unreadable('its header is not JSON');
    }
    const step = Number(meta?.step);
    if (!Number.isInteger(step)) throw unreadable('it records no step');
    return { step, configHash: String(meta?.configHash ?? '') };
  } finally {
    closeSync(fd);
  }
}

/** A result file as written by a worker, or undefined when there is none (or it is not one: it is then simply redone). */
export function readEvalResult(path: string): EvalResultFile | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const file = JSON.parse(readFileSync(path, 'utf8')) as EvalResultFile;
    const ok = typeof file?.evaluator === 'string' && typeof file.checkpoint?.step === 'number' && typeof file.result?.metrics === 'object' && file.ref !== undefined;
    return ok ? file : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a result file already answers this evaluator for this checkpoint, so the job has nothing to do. */
export function isCurrentResult(file: EvalResultFile | undefined, ref: PluginRef, checkpoint: CheckpointIdentity | undefined): file is EvalResultFile {
  return (
    file !== undefined && checkpoint !== undefined && file.checkpoint.step === checkpoint.step && file.checkpoint.configHash === checkpoint.configHash && sameEvaluator(file.ref, ref)
  );
}

/** A job's data as the worker trusts it: checked, never taken as it came off the queue. */
export function parseEvalJobData(data: unknown, jobId: string | undefined): EvalJobData {
  const job = data as Partial<EvalJobData> | null;
  const evaluator = pluginRefSchema.safeParse(job?.evaluator);
  if (!job || typeof job !== 'object' || typeof job.runDir !== 'string' || job.runDir.length === 0 || !evaluator.success) {
    throw new GenviewError('BAD_INPUT', 'the job data is not a genview eval-sweep job ({ runDir, evaluator }).', {
      where: `queue job ${jobId ?? '(no id)'}`,
      fix: 'enqueue evaluations with `genview eval-sweep --queue` (or enqueueEvalSweep); do not share the queue with other producers.',
    });
  }
  return { runDir: resolve(job.runDir), evaluator: evaluator.data as PluginRef };
}
