import { GenviewError, type PluginKind, type PluginRef, type Registry, formatConfigIssues } from '@genview/core';
import type { RunConfig } from '../config/schema';
import { migrateRunConfig } from '../config/migrate';
import { frameworkPreflights } from '../frameworks';
import { optimizerConfigSchema } from '../optim';

/**
 * Resolves and validates every plugin a run config names before anything is loaded or trained, so a
 * typo in the last evaluator fails in a second, not after an hour of training.
 */
export function preflight(given: RunConfig, registry: Registry): void {
  const { config } = migrateRunConfig(given);
  const check = (kind: PluginKind, ref: PluginRef, path: string) => {
    const { name, ...options } = typeof ref === 'string' ? { name: ref } : ref;
    registry.validate(registry.resolve(kind, name, path), options, path);
  };
  check('dataset', config.data.train as PluginRef, 'data.train');
  check('dataset', config.data.test as PluginRef, 'data.test');
  check('framework', config.framework as PluginRef, 'framework');
  for (const extra of frameworkPreflights) extra(config, registry, check);
  for (const [i, ref] of config.eval.evaluators.entries()) check('evaluator', ref as PluginRef, `eval.evaluators[${i}]`);
  for (const [v, list] of (config.views.pipelines ?? []).entries()) {
    for (const [i, ref] of list.entries()) check('augment', ref as PluginRef, `views.pipelines[${v}][${i}]`);
  }
  if (config.views.generated) check('generator', config.views.generated.generator as PluginRef, 'views.generated.generator');
  if (config.quality) check('quality', config.quality as PluginRef, 'quality');
  const optimizer = optimizerConfigSchema.safeParse(config.optimizer);
  if (!optimizer.success) {
    throw new GenviewError('INVALID_CONFIG', `invalid optimizer:\n  ${formatConfigIssues('optimizer', optimizer.error.issues).join('\n  ')}`, {
      where: 'optimizer',
      fix: 'name one of sgd, lars, adamw, adam with its options (see README).',
    });
  }
}

