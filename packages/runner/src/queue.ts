// @genview/runner/queue: distributed generation and evaluation sweeps over BullMQ (needs the optional
// peers bullmq and ioredis). test/public-surface.test.ts pins this list.
export { enqueueGenerate, type EnqueueGenerateOptions, type EnqueueGenerateResult } from './queue/coordinator';
export { runGenerateWorker, type GenerateWorkerOptions, type GenerateWorkerHandle, type ShardJobResult } from './queue/worker';
export { GENERATE_QUEUE, parseQueueUrl, type QueueAddress } from './queue/connection';
export type { DeadLetter, DeadLetterReport, FailedJob } from './queue/dead-letter';
export {
  enqueueEvalSweep,
  formatEvalSweep,
  DEFAULT_SWEEP_EVALUATORS,
  type EnqueueEvalSweepOptions,
  type EnqueueEvalSweepResult,
  type EvalSweepReport,
  type EvalSweepCell,
  type EvalDeadLetter,
} from './queue/eval-coordinator';
export { runEvalWorker, type EvalWorkerOptions, type EvalWorkerHandle, type EvalJobResult } from './queue/eval-worker';
export { EVAL_QUEUE, type EvalResultFile } from './queue/eval-job';
