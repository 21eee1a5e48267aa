// The contracts every GenView package and third-party plugin builds on. Explicit lists, no `export *`:
// test/public-surface.test.ts pins them, so a new export is a deliberate change.
export { tf } from './tf';
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Scalar, Variable, Rank } from './tf';
export { z } from 'zod';
export {
  GenviewError,
  type GenviewErrorCode,
  type GenviewErrorOptions,
  isGenviewError,
} from './errors';
export {
  Rng,
  type RngState,
  viewSeed,
} from './rng';
export {
  EventBus,
  type GenviewEventName,
  type GenviewEvents,
  type Listener,
} from './events';
export {
  assertShape,
  type Dim,
  ShapeCheck,
} from './shapes';
export { stopGradient, l2Normalize } from './ops';
export {
  BATCH_NORM_RELU_TRAINING_GRAD_KERNEL,
  BATCH_NORM_RELU_TRAINING_KERNEL,
  BATCH_NORM_TRAINING_GRAD_KERNEL,
  BATCH_NORM_TRAINING_KERNEL,
  batchNormTraining,
  type BatchNormTrainingOptions,
} from './batch-norm-training';
export {
  ADAM_UPDATE_KERNEL,
  adamUpdate,
  type AdamUpdateAttrs,
  type AdamUpdateInputs,
} from './adam-update';
export {
  type AnyTensor,
  type Augmentation,
  type Backbone,
  type Batch,
  type CaptionComplexityScorer,
  type Conditioning,
  type ConditioningInput,
  type CrossProcessReduction,
  type Dataset,
  type DatasetInfo,
  type EvalData,
  type EvalResult,
  type Evaluator,
  type FeatureExtractor,
  type ForwardMode,
  type Framework,
  type FrozenVisionLanguageModel,
  type GeneratedView,
  type GenerationParams,
  type GenerationRequest,
  type Generator,
  type Head,
  type ImageShape,
  type Loss,
  type LossInputs,
  type Module,
  type ModuleVariable,
  PLUGIN_KINDS,
  type PluginInstances,
  type PluginKind,
  type PriorKernel,
  type QualityInput,
  type QualityScorer,
  type StepMetrics,
  type Tokenizer,
  type ViewBatch,
  type VisionLanguageEncoder,
  type PatchTokenEncoder,
} from './plugin/contracts';
export {
  type AnyPlugin,
  definePlugin,
  type Plugin,
  type PluginContext,
  type PluginServices,
} from './plugin/define';
export type { FrameworkStages, StageInfo, FinishedStage, StageRun, StageOutcome, StageBatchOrder } from './plugin/stages';
export { isVisionLanguageEncoder, requireVisionLanguageEncoder } from './plugin/vision-language';
export {
  type PluginRef,
  Registry,
} from './plugin/registry';
export {
  pluginRefSchema,
  type PluginRefConfig,
  inputShapeSchema,
  buildBackbone,
  buildHead,
  backboneFeatures,
  forwardViews,
  copyModule,
  emaUpdate,
  cosineMomentum,
  named,
} from './plugin/parts';
export { closestNames } from './plugin/closest';
export { formatConfigIssues } from './plugin/config-issues';
export {
  type BackendAttempt,
  type BackendReport,
  type BackendRung,
  currentBackend,
  defaultRungs,
  describeBackend,
  selectBackend,
  type SelectBackendOptions,
} from './backend/ladder';
export { gradientCheckAgainstCpu } from './backend/gradient-check';
export {
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsDtype,
  type SafetensorsFile,
  type SafetensorsFileDtype,
  type SafetensorsTensor,
} from './io/safetensors';
export {
  isTemporaryName,
  readFileIfExists,
  removeStaleTemporaries,
  temporaryPathFor,
  writeFileAtomic,
} from './io/atomic';
export { type ReadTarOptions, TAR_BLOCK, type TarEntry, readTar, writeTar } from './io/tar';
export { type IndexTarOptions, type TarMember, indexTarFile } from './io/tar-index';
export { lazyModule } from './io/lazy-module';
