import { type SchedulerConfig, type SchedulerConfigInput, parseSchedulerConfig, withSchedulerKind } from './config';
import { DdimScheduler } from './ddim';
import { DpmSolverMultistepScheduler } from './dpm-solver';
import { EulerAncestralScheduler, EulerDiscreteScheduler } from './euler';
import type { DiffusionScheduler, SchedulerKind } from './types';

export interface CreateSchedulerOptions {
  /** Run the config's trained schedule with this sampler instead of the one `_class_name` names. */
  kind?: SchedulerKind;
  /** DDIM only: 0 (default) is deterministic, 1 is DDPM-like; see DdimOptions. */
  eta?: number;
}

function isParsed(config: SchedulerConfig | SchedulerConfigInput): config is SchedulerConfig {
  return 'kind' in config && typeof config.kind === 'string';
}

/**
 * The sampler a scheduler_config.json names, set up for `numInferenceSteps` steps. Takes a parsed
 * config or the raw JSON object (validated here). The third argument is either options or just
 * the sampler kind to swap in.
 */
export function createScheduler(
  config: SchedulerConfig | SchedulerConfigInput,
  numInferenceSteps: number,
  options: CreateSchedulerOptions | SchedulerKind = {},
): DiffusionScheduler {
  const opts = typeof options === 'string' ? { kind: options } : options;
  const parsed = isParsed(config) ? config : parseSchedulerConfig(config);
  const run = opts.kind ? withSchedulerKind(parsed, opts.kind) : parsed;
  switch (run.kind) {
    case 'ddim':
      return new DdimScheduler(run, numInferenceSteps, { eta: opts.eta });
    case 'euler':
      return new EulerDiscreteScheduler(run, numInferenceSteps);
    case 'euler-ancestral':
      return new EulerAncestralScheduler(run, numInferenceSteps);
    case 'dpm-solver':
      return new DpmSolverMultistepScheduler(run, numInferenceSteps);
  }
}
