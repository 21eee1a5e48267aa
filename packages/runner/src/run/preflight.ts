import { GenviewError, type PluginKind, type PluginRef, type Registry, formatConfigIssues } from '@genview/core';
import type { RunConfig } from '../config/schema';
import { optimizerConfigSchema } from '../optim';

/**
 * Resolves and validates every plugin a run config names before anything is loaded or trained, so a
 * typo in the last evaluator fails in a second, not after an hour of training.
 */
export function preflight(config: RunConfig, registry: Registry): void {
  const check = (kind: PluginKind, ref: PluginRef, path: string) => {
    const { name, ...options } = typeof ref === 'string' ? { name: ref } : ref;
    registry.validate(registry.resolve(kind, name, path), options, path);
  };
  check('dataset', config.data.train as PluginRef, 'data.train');
  check('dataset', config.data.test as PluginRef, 'data.test');
  check('framework', config.framework as PluginRef, 'framework');
  checkMcl(config, registry, check);
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

/** The framework's plugin name as the registry resolves it ("@genview/runner:mcl" is mcl too). */
function frameworkName(ref: PluginRef, registry: Registry, path: string): string {
  return registry.resolve('framework', typeof ref === 'string' ? ref : ref.name, path).name;
}

/**
 * An mcl framework's inner framework (resolved and validated now, not when the first stage is built),
 * and the mcl section: stage count, steps per stage, negatives that agree with the framework's, and no
 * evaluation it cannot do.
 */
function checkMcl(config: RunConfig, registry: Registry, check: (kind: PluginKind, ref: PluginRef, path: string) => void): void {
  const framework = config.framework as PluginRef;
  const isMcl = frameworkName(framework, registry, 'framework') === 'mcl';
  if (isMcl && typeof framework !== 'string') {
    const inner = ((framework as Record<string, unknown>).inner ?? 'simclr') as PluginRef;
    const innerName = typeof inner === 'string' ? inner : (inner as { name?: unknown }).name;
    if (typeof innerName === 'string' && frameworkName(inner, registry, 'framework.inner') === 'mcl') {
      throw new GenviewError('INVALID_CONFIG', 'mcl cannot wrap itself.', { where: 'framework.inner', fix: 'name an InfoNCE-style framework, e.g. simclr.' });
    }
    if (typeof innerName === 'string') check('framework', inner, 'framework.inner');
  }
  const mcl = config.mcl;
  if (!mcl) return;
  if (!(Number.isInteger(mcl.stages) && mcl.stages >= 1)) {
    throw new GenviewError('INVALID_CONFIG', `mcl.stages must be a positive integer, got ${mcl.stages}.`, {
      where: 'mcl.stages',
      fix: 'give the number of stages, the first (ordinary training) included: 1 trains a single stage, MCL uses 2 or more.',
    });
  }
  if (Array.isArray(mcl.stepsPerStage) && mcl.stepsPerStage.length !== mcl.stages) {
    throw new GenviewError('INVALID_CONFIG', `mcl.stepsPerStage lists ${mcl.stepsPerStage.length} stages but mcl.stages is ${mcl.stages}.`, {
      where: 'mcl.stepsPerStage',
      fix: `give ${mcl.stages} step counts, one number for every stage, or leave it out to split the trainer's budget evenly.`,
    });
  }
  const own = isMcl && typeof framework !== 'string' ? (framework as Record<string, unknown>).negatives : undefined;
  if (mcl.negatives !== undefined && own !== undefined && own !== mcl.negatives) {
    throw new GenviewError('INVALID_CONFIG', `mcl.negatives is ${mcl.negatives} but framework.negatives is ${String(own)}.`, {
      where: 'mcl.negatives',
      fix: 'set the negatives mode in one place (mcl.negatives, or the mcl framework reference).',
    });
  }
  if (config.eval.finetune) {
    throw new GenviewError('INVALID_CONFIG', "eval.finetune cannot fine-tune MCL's integrated encoder (a concatenation of every stage's backbone).", {
      where: 'eval.finetune',
      fix: 'remove eval.finetune from an MCL run (kNN and linear probes evaluate the integrated encoder and each stage).',
    });
  }
}
