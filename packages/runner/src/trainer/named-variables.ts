import type { Module, ModuleVariable } from '@genview/core';

/** Variables of several modules under "<module>/<variable>" names: the keys of checkpoints and optimizer state. */
export function namespacedVariables(modules: Module[]): ModuleVariable[] {
  const out: ModuleVariable[] = [];
  const seen = new Set<string>();
  for (const module of modules) {
    for (const v of module.variables()) {
      const name = `${module.name}/${v.name}`;
      if (seen.has(name)) throw new Error(`two variables are named ${name}: give the modules distinct names`);
      seen.add(name);
      out.push({ ...v, name });
    }
  }
  return out;
}
