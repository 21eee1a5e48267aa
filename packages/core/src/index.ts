export { tf } from './tf';
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Scalar, Variable, Rank } from './tf';
export { z } from 'zod';
export * from './errors';
export * from './rng';
export * from './events';
export * from './shapes';
export { stopGradient, l2Normalize } from './ops';
export * from './batch-norm-training';
export * from './adam-update';
export * from './plugin/contracts';
export * from './plugin/define';
export type { FrameworkStages, StageInfo, FinishedStage, StageRun, StageOutcome, StageBatchOrder } from './plugin/stages';
export { isVisionLanguageEncoder, requireVisionLanguageEncoder } from './plugin/vision-language';
export * from './plugin/registry';
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
export { closestNames, editDistance } from './plugin/closest';
export { formatConfigIssues } from './plugin/config-issues';
export * from './backend/ladder';
export { gradientCheckAgainstCpu } from './backend/gradient-check';
export * from './io/safetensors';
export * from './io/atomic';
