import type { PluginRef, Registry } from '@genview/core';

/** The framework reference with the data's image shape filled in, for frameworks that take `inputShape`. */
export function withInputShape(registry: Registry, ref: PluginRef, shape: [number, number, number]): PluginRef {
  const options: Record<string, unknown> & { name: string } = typeof ref === 'string' ? { name: ref } : { ...ref };
  const schema = registry.resolve('framework', options.name, 'framework').configSchema as { shape?: Record<string, unknown> };
  if (schema.shape && 'inputShape' in schema.shape && options.inputShape === undefined) options.inputShape = shape;
  return options;
}

/**
 * The framework reference without the `weights` (initial-weights file) of any backbone in it: for
 * rebuilding a network whose every weight is loaded next (a checkpoint), so the file that seeded
 * training need not exist any more.
 */
export function withoutInitialWeights(registry: Registry, ref: PluginRef): PluginRef {
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) out[key] = strip(v);
    if (typeof out.name === 'string' && 'weights' in out && registry.has('backbone', out.name)) delete out.weights;
    return out;
  };
  return strip(ref) as PluginRef;
}
