export * from './frameworks';
export * from './prior';
export * from './optim';
export { Trainer, TrainingInterrupted, type TrainerOptions, type TrainSummary, type TrainPhase, type GeneratedViewsOptions, type GeneratedViewPlan } from './trainer/trainer';
export { BatchOrder, type BatchSchedule } from './trainer/data-order';
export {
  type LoadedMultistage,
  type MultistageClustering,
  type MultistageOptions,
  type MultistageResult,
  type MultistageStage,
  loadMultistage,
  mclFrameworkRef,
  runMultistage,
} from './frameworks/mcl/multistage';
export {
  trainStages,
  loadStages,
  stageDir,
  isStagedFramework,
  lastStageCheckpoint,
  STAGES_FILE,
  type StagedFramework,
  type StagedTrainingOptions,
  type StagedTrainingResult,
  type TrainedStage,
  type LoadedStages,
  type StagesManifest,
} from './trainer/stages';
export { saveCheckpoint, loadCheckpoint, loadModelState, checkpointExists, type CheckpointMeta } from './trainer/checkpoint';
export { namespacedVariables } from './trainer/named-variables';
export { runConfigSchema, pluginRefSchema, type PluginRefConfig, type RunConfig } from './config/schema';
export { loadRunConfig, validateRunConfig, applyOverride, parseYaml } from './config/load';
export { createRegistry, frameworkPlugins } from './registry';
export { createRegistryWithPlugins, loadPluginModules, pluginSources, type PluginSource, type PluginLoadOptions } from './config/plugins';
export { trainFromConfig, evaluateEncoder, type TrainRunResult, type EncoderResults } from './run/train';
export { evaluateFromConfig } from './run/evaluate';
export { exportRun, type ExportFormat, type ExportOptions, type ExportResult } from './run/export';
export {
  fineTuneSemiSupervised,
  fineTuneEvalResult,
  type FineTuneSettings,
  type FineTuneParts,
  type FineTuneResult,
} from './finetune/fine-tune';
export { linearClassifier } from './finetune/linear-classifier';
export { fineTuneEvaluation, fineTuneTrained, fineTuneFromScratch, onlineBackbone, backboneRefOf, type FineTuneRun } from './run/finetune';
export { generateFromConfig, type GenerateRunOptions, type GenerateRunResult } from './run/generate';
export { verifyPath, formatVerify, type VerifyResult, type VerifyOptions, type CheckpointCheck, type StoreCheck } from './run/verify';
export { buildViewPipelines } from './run/views';
export { enqueueGenerate, type EnqueueGenerateOptions, type EnqueueGenerateResult } from './queue/coordinator';
export { runGenerateWorker, type GenerateWorkerOptions, type GenerateWorkerHandle, type ShardJobResult } from './queue/worker';
export { GENERATE_QUEUE, createQueueClient, parseQueueUrl, type QueueAddress, type QueueConnection } from './queue/connection';
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
export { runEvalWorker, runEvalJob, type EvalWorkerOptions, type EvalWorkerHandle, type EvalJobResult } from './queue/eval-worker';
export { EVAL_QUEUE, evalResultPath, type EvalJobData, type EvalResultFile } from './queue/eval-job';
export {
  createRunnerServices,
  readRunConfig,
  saveRunConfig,
  RUN_CONFIG_FILE,
  type RunnerServices,
  type RunnerServicesOptions,
} from './run/services';
export { tokenizerSource, TOKENIZER_DIR, CAPTIONS_TOKENIZER, type TokenizerSourceOptions } from './run/tokenizers';
export {
  fitForegroundFromConfig,
  DEFAULT_FIT_IMAGES,
  type FitForegroundRunOptions,
  type FitForegroundRunResult,
} from './run/fit-foreground';
export { main } from './cli/main';
export { formatPluginList, describeOptions } from './cli/plugins-command';

import { frameworkPlugins } from './registry';
/** The frameworks this package provides, for registering into a user's own registry. */
export const plugins = frameworkPlugins;

export * from './report/index';
