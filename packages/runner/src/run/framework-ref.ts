import type { PluginRef, Registry } from '@genview/core';

/** The framework reference with the data's image shape filled in, for frameworks that take `inputShape`. */
export function withInputShape(registry: Registry, ref: PluginRef, shape: [number, number, number]): PluginRef {
  const options: Record<string, unknown> & { name: string } = typeof ref === 'string' ? { name: ref } : { ...ref };
  const schema = registry.resolve('framework', options.name, 'framework').configSchema as { shape?: Record<string, unknown> };
  if (schema.shape && 'inputShape' in schema.shape && options.inputShape === undefined) options.inputShape = shape;
  return options;
}
