export type { Optimizer, OptimizerState } from './types';
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
} from './config';
export { SlotOptimizer } from './base';
export { SgdOptimizer, type MomentumSettings } from './sgd';
export { LarsOptimizer } from './lars';
export { AdamOptimizer } from './adam';
export { createOptimizer, type CreateOptimizerOptions } from './create';
export { clipGradNorm, type ClippedGrads } from './clip';
export {
  constantLr,
  constantScheduleSchema,
  cosineScheduleSchema,
  cosineWithWarmup,
  createSchedule,
  scheduleSchema,
  stepLr,
  stepScheduleSchema,
  type CosineScheduleOptions,
  type CreateScheduleOptions,
  type LrSchedule,
  type ScheduleConfig,
  type ScheduleConfigInput,
  type StepScheduleOptions,
} from './schedule';
export { scaledLr } from './scaling';
