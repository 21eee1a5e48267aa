import { type AnyPlugin, type Registry, z } from '@genview/core';

export interface OptionDoc {
  name: string;
  type: string;
  default?: unknown;
  required: boolean;
  description?: string;
}

/** Options of a plugin with types and defaults, read from its zod schema. */
export function describeOptions(plugin: AnyPlugin): OptionDoc[] {
  let json: Record<string, unknown>;
  try {
    json = z.toJSONSchema(plugin.configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  } catch {
    return [];
  }
  const properties = (json.properties ?? {}) as Record<string, Record<string, unknown>>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, prop]) => ({
    name,
    type: typeOf(prop),
    default: prop.default,
    required: required.has(name) && prop.default === undefined,
    description: typeof prop.description === 'string' ? prop.description : undefined,
  }));
}

function typeOf(prop: Record<string, unknown>): string {
  if (Array.isArray(prop.enum)) return prop.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (typeof prop.type === 'string') {
    if (prop.type === 'array' && prop.items && typeof prop.items === 'object') return `${typeOf(prop.items as Record<string, unknown>)}[]`;
    return prop.type;
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = prop[key];
    if (Array.isArray(options)) return options.map((o) => typeOf(o as Record<string, unknown>)).join(' | ');
  }
  if (prop.const !== undefined) return JSON.stringify(prop.const);
  return 'any';
}

/** The plugins `genview plugins [filter]` shows: all, or those of one kind, name or package. */
export function matchingPlugins(registry: Registry, filter?: string): AnyPlugin[] {
  return registry.list().filter((p) => !filter || p.kind === filter || p.name === filter || p.package === filter);
}

/** What `genview plugins --json` prints for each plugin. */
export function describePlugin(plugin: AnyPlugin): { kind: string; name: string; package: string; description: string; options: OptionDoc[] } {
  return { kind: plugin.kind, name: plugin.name, package: plugin.package, description: plugin.description, options: describeOptions(plugin) };
}

/** The text `genview plugins [filter]` prints. */
export function formatPluginList(registry: Registry, filter?: string): string {
  const plugins = matchingPlugins(registry, filter);
  if (plugins.length === 0) return `no plugin matches "${filter}".\n`;
  const lines: string[] = [];
  let kind = '';
  for (const plugin of plugins) {
    if (plugin.kind !== kind) {
      kind = plugin.kind;
      lines.push('', `${kind}:`);
    }
    lines.push(`  ${plugin.name}  (${plugin.package}) — ${plugin.description}`);
    for (const option of describeOptions(plugin)) {
      const def = option.default === undefined ? (option.required ? ' (required)' : '') : ` = ${JSON.stringify(option.default)}`;
      lines.push(`      ${option.name}: ${option.type}${def}${option.description ? `  — ${option.description}` : ''}`);
    }
  }
  return `${lines.join('\n').trimStart()}\n`;
}
