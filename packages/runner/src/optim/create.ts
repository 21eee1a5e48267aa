import { GenviewError, type ModuleVariable, formatConfigIssues } from '@genview/core';
import { AdamOptimizer } from './adam';
import { type OptimizerConfig, type OptimizerConfigInput, optimizerConfigSchema } from './config';
import { LarsOptimizer } from './lars';
import { SgdOptimizer } from './sgd';
import type { Optimizer } from './types';

export interface CreateOptimizerOptions {
  /** Config path used in error messages, e.g. "trainer.optimizer". */
  path?: string;
}

/** Parses the config (filling defaults) and builds the optimizer over `variables`; non-trainable ones are never touched. */
export function createOptimizer(config: OptimizerConfigInput, variables: ModuleVariable[], options: CreateOptimizerOptions = {}): Optimizer {
  const path = options.path ?? 'optimizer';
  const parsed = optimizerConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new GenviewError('INVALID_CONFIG', `invalid optimizer config:\n  ${formatConfigIssues(path, parsed.error.issues).join('\n  ')}`, {
      where: path,
      fix: "name one of 'sgd', 'lars', 'adamw', 'adam' with its own fields; the learning rate belongs to the schedule.",
    });
  }
  return build(parsed.data, variables);
}

function build(config: OptimizerConfig, variables: ModuleVariable[]): Optimizer {
  switch (config.name) {
    case 'sgd':
      return new SgdOptimizer(config, variables);
    case 'lars':
      return new LarsOptimizer(config, variables);
    case 'adam':
    case 'adamw':
      return new AdamOptimizer(config, variables);
  }
}
