// The runner's public surface: its framework plugins and the building blocks the READMEs document
// (trainer, optimizers and schedules, run configs, the run functions the CLI is made of). The queue and
// the report are opt-in subsystems with their own entries: @genview/runner/queue, @genview/runner/report.
// test/public-surface.test.ts pins this list, so a new export is a deliberate change.
import { frameworkPlugins } from './registry';

// Frameworks (kind `framework`)
export { simclr } from './frameworks/simclr';
export { mocoV2 } from './frameworks/moco-v2';
export { byol } from './frameworks/byol';
export { simsiam } from './frameworks/simsiam';
export { mcl, type MclFramework, type MclNegatives } from './frameworks/mcl/framework';
export { createDecoupledFramework, decoupled, type DecoupledParts } from './frameworks/decoupled';
export { clip } from './frameworks/clip';
export { slip } from './frameworks/slip';
/** The frameworks this package provides, for registering into a user's own registry. */
export const plugins = frameworkPlugins;

// Priors for decoupled uniformity
export { type PriorFeatures, tablePrior } from './prior/features';
export { attributeTablePrior, labelAttributePrior, type LabelAttributeOptions } from './prior/attributes';
export { encoderPrior, type EncoderPriorOptions } from './prior/encoder';
export { filePrior, type FilePriorOptions } from './prior/file';
export { type GenerativePriorOptions, generativeFeatures, generativePrior } from './prior/generative';
export { type MedianDistanceOptions, medianPairwiseDistance } from './prior/bandwidth';
export { buildPriorFeatures, priorSourceSchema, type PriorSourceConfig } from './prior/source';

// Optimizers and learning-rate schedules
export type { Optimizer, OptimizerState } from './optim/types';
export {
  OPTIMIZER_NAMES,
  adamConfigSchema,
  adamwConfigSchema,
  larsConfigSchema,
  optimizerConfigSchema,
  sgdConfigSchema,
  type AdamConfig,
  type AdamwConfig,
  type LarsConfig,
  type OptimizerConfig,
  type OptimizerConfigInput,
  type SgdConfig,
} from './optim/config';
export { SlotOptimizer } from './optim/base';
export { SgdOptimizer, type MomentumSettings } from './optim/sgd';
export { LarsOptimizer } from './optim/lars';
export { AdamOptimizer } from './optim/adam';
export { createOptimizer, type CreateOptimizerOptions } from './optim/create';
export { clipGradNorm, type ClippedGrads } from './optim/clip';
export {
  constantLr,
  cosineWithWarmup,
  createSchedule,
  scheduleSchema,
  stepLr,
  type CosineScheduleOptions,
  type CreateScheduleOptions,
  type LrSchedule,
  type ScheduleConfig,
  type ScheduleConfigInput,
  type StepScheduleOptions,
} from './optim/schedule';
export { scaledLr } from './optim/scaling';

// The trainer, checkpoints and multi-stage training
export { Trainer, TrainingInterrupted, type TrainerOptions, type TrainSummary, type TrainPhase, type GeneratedViewsOptions, type GeneratedViewPlan } from './trainer/trainer';
export { BatchOrder, type BatchSchedule } from './trainer/data-order';
export { saveCheckpoint, loadCheckpoint, loadModelState, checkpointExists, type CheckpointMeta } from './trainer/checkpoint';
export { namespacedVariables } from './trainer/named-variables';
export {
  trainStages,
  loadStages,
  isStagedFramework,
  type StagedFramework,
  type StagedTrainingOptions,
  type StagedTrainingResult,
  type TrainedStage,
  type LoadedStages,
  type StagesManifest,
} from './trainer/stages';
export {
  type LoadedMultistage,
  type MultistageClustering,
  type MultistageOptions,
  type MultistageResult,
  type MultistageStage,
  loadMultistage,
  runMultistage,
} from './frameworks/mcl/multistage';
export { integrateStageFeatures, integratedEncoder } from './frameworks/mcl/integrate';

// Run configs, the registry and third-party plugins
export { runConfigSchema, type RunConfig } from './config/schema';
export { loadRunConfig, validateRunConfig, applyOverride } from './config/load';
export { createRegistry } from './registry';
export { createRegistryWithPlugins, loadPluginModules, type PluginSource, type PluginLoadOptions } from './config/plugins';

// What the CLI commands run, callable from code
export { trainFromConfig, evaluateEncoder, type TrainRunResult, type EncoderResults } from './run/train';
export { evaluateFromConfig } from './run/evaluate';
export { exportRun, type ExportFormat, type ExportOptions, type ExportResult } from './run/export';
export { fineTuneSemiSupervised, type FineTuneSettings, type FineTuneParts, type FineTuneResult } from './finetune/fine-tune';
export { frozenFractionBaseline, type FrozenBaselineSettings } from './finetune/frozen-baseline';
export { generateFromConfig, type GenerateRunOptions, type GenerateRunResult } from './run/generate';
export { verifyPath, formatVerify, type VerifyResult, type VerifyOptions, type CheckpointCheck, type StoreCheck } from './run/verify';
export { buildViewPipelines } from './run/views';
export { createRunnerServices, readRunConfig, saveRunConfig, type RunnerServices, type RunnerServicesOptions } from './run/services';
export { fitForegroundFromConfig, type FitForegroundRunOptions, type FitForegroundRunResult } from './run/fit-foreground';
export { main } from './cli/main';
