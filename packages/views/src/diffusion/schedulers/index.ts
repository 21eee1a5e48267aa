export {
  SCHEDULER_CLASSES,
  type SchedulerClassName,
  type SchedulerConfig,
  type SchedulerConfigInput,
  parseDiffusersJson,
  parseSchedulerConfig,
  readSchedulerConfig,
  schedulerConfigSchema,
  withSchedulerKind,
} from './config';
export { type BetaOptions, type BetaSchedule, alphasCumprodFor, alphasCumprodFromBetas, betasFor, cosineBetas } from './betas';
export { type TimestepSpacing, ddimTimesteps, dpmSolverTimesteps, eulerTimesteps, img2imgStart } from './timesteps';
export { karrasSigmas, sigmaToTimestep, trainingSigmas } from './sigmas';
export { type DdimOptions, DdimScheduler } from './ddim';
export { EulerAncestralScheduler, EulerDiscreteScheduler } from './euler';
export { DpmSolverMultistepScheduler } from './dpm-solver';
export { type CreateSchedulerOptions, createScheduler } from './create';
export { addNoiseAtTimestep } from './forward-noise';
export { type TimestepEmbeddingOptions, timestepEmbedding } from './timestep-embedding';
export type { DiffusionScheduler, NoiseSource, SchedulerKind } from './types';
