import { GenviewError, type PluginKind, type PluginRef, type Registry } from '@genview/core';
import type { RunConfig } from '../../config/schema';
import { checkStagePlan } from './settings';

/** Whether a framework reference names the mcl plugin ("mcl" or "<package>:mcl"). */
function namesMcl(ref: unknown): boolean {
  const name = typeof ref === 'string' ? ref : (ref as { name?: unknown } | null)?.name;
  return typeof name === 'string' && (name === 'mcl' || name.endsWith(':mcl'));
}

const MOVED = ['stages', 'stepsPerStage', 'clustering', 'embedBatchSize', 'negatives'] as const;

/**
 * A config with the deprecated run-level `mcl:` section, rewritten to the framework form: its fields go
 * into the mcl framework reference (a non-mcl framework becomes mcl's `inner`), `evaluateStages` into
 * eval.stages. The stages train exactly as before. A config without the section comes back as it is.
 */
export function migrateMclSection(config: RunConfig): { config: RunConfig; deprecations: string[] } {
  const section = config.mcl;
  if (!section) return { config, deprecations: [] };
  checkStagePlan(section, 'mcl');
  const given = config.framework as PluginRef;
  const isMcl = namesMcl(given);
  const base: Record<string, unknown> & { name: string } = typeof given === 'string' ? { name: given } : { ...(given as { name: string }) };
  const framework: Record<string, unknown> & { name: string } = isMcl ? base : { name: 'mcl', inner: base };
  for (const field of MOVED) {
    const value = (section as Record<string, unknown>)[field];
    if (value === undefined) continue;
    const own = framework[field];
    if (own !== undefined && JSON.stringify(own) !== JSON.stringify(value)) {
      throw new GenviewError('INVALID_CONFIG', `mcl.${field} is ${JSON.stringify(value)} but framework.${field} is ${JSON.stringify(own)}.`, {
        where: `mcl.${field}`,
        fix: `set ${field} in one place: the mcl framework reference (framework.${field}); the mcl: section is deprecated.`,
      });
    }
    framework[field] = value;
  }
  const evalSection = section.evaluateStages === undefined || config.eval.stages !== undefined ? config.eval : { ...config.eval, stages: section.evaluateStages };
  const { mcl: _dropped, ...rest } = config;
  const example = `framework: { name: mcl${isMcl ? '' : `, inner: ${base.name}`}, stages: ${section.stages}, ... }`;
  return {
    config: { ...rest, framework, eval: evalSection } as RunConfig,
    deprecations: [`the mcl: section of the run config is deprecated; move its fields into the mcl framework reference (${example}) and mcl.evaluateStages to eval.stages. This run reads it that way.`],
  };
}

/**
 * Checks of an mcl framework reference that need the registry, before anything is built: the inner
 * framework resolves and validates (not only when the first stage is built), mcl does not wrap itself,
 * and no evaluation it cannot do is asked for. Called by the runner's preflight on the migrated config.
 */
export function preflightMcl(config: RunConfig, registry: Registry, check: (kind: PluginKind, ref: PluginRef, path: string) => void): void {
  const framework = config.framework as PluginRef;
  const plugin = registry.resolve('framework', typeof framework === 'string' ? framework : framework.name, 'framework');
  if (plugin.name !== 'mcl') return;
  const { name: _name, ...options } = typeof framework === 'string' ? { name: framework } : framework;
  checkStagePlan(registry.validate(plugin, options, 'framework') as { stages: number; stepsPerStage?: number | number[] }, 'framework');
  if (typeof framework !== 'string') {
    const inner = ((framework as Record<string, unknown>).inner ?? 'simclr') as PluginRef;
    const innerName = typeof inner === 'string' ? inner : (inner as { name?: unknown }).name;
    if (typeof innerName === 'string' && registry.resolve('framework', innerName, 'framework.inner').name === 'mcl') {
      throw new GenviewError('INVALID_CONFIG', 'mcl cannot wrap itself.', { where: 'framework.inner', fix: 'name an InfoNCE-style framework, e.g. simclr.' });
    }
    if (typeof innerName === 'string') check('framework', inner, 'framework.inner');
  }
  if (config.eval.finetune) {
    throw new GenviewError('INVALID_CONFIG', "eval.finetune cannot fine-tune MCL's integrated encoder (a concatenation of every stage's backbone).", {
      where: 'eval.finetune',
      fix: 'remove eval.finetune from an MCL run (kNN and linear probes evaluate the integrated encoder and each stage).',
    });
  }
}
