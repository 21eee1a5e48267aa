import { GenviewError } from '../errors';
import type { PluginInstances, PluginKind } from './contracts';
import { closestNames } from './closest';
import { formatConfigIssues } from './config-issues';
import type { AnyPlugin, Plugin, PluginContext } from './define';

/** A plugin reference in a config: "name", "package:name", or an object with `name` and its options. */
export type PluginRef = string | ({ name: string } & Record<string, unknown>);

function shortPackage(pkg: string): string {
  return pkg.startsWith('@genview/') ? pkg.slice('@genview/'.length) : pkg;
}

function samePackage(a: string, qualifier: string): boolean {
  return a === qualifier || shortPackage(a) === qualifier;
}

/** The package part of a "package:name" reference, if any. */
function qualifierOf(ref: string): string | undefined {
  const colon = ref.lastIndexOf(':');
  return colon > 0 ? ref.slice(0, colon) : undefined;
}

/** Whether `qualifier` names one of the plugin's former packages and not its current one. */
function namesFormerPackage(plugin: AnyPlugin, qualifier: string | undefined): boolean {
  if (!qualifier || samePackage(plugin.package, qualifier)) return false;
  return (plugin.formerPackages ?? []).some((former) => samePackage(former, qualifier));
}

/**
 * Plugins are registered explicitly (never by import side effect) and found by kind and name.
 * "package:name" disambiguates when two packages offer the same name.
 */
export class Registry {
  private byKind = new Map<PluginKind, Map<string, AnyPlugin[]>>();

  register(plugins: AnyPlugin | readonly AnyPlugin[]): this {
    for (const plugin of Array.isArray(plugins) ? plugins : [plugins as AnyPlugin]) {
      let names = this.byKind.get(plugin.kind);
      if (!names) {
        names = new Map();
        this.byKind.set(plugin.kind, names);
      }
      const same = names.get(plugin.name) ?? [];
      if (same.some((p) => p.package === plugin.package)) {
        throw new GenviewError('DUPLICATE_PLUGIN', `${plugin.kind} "${plugin.package}:${plugin.name}" is registered twice.`, {
          fix: 'register each package once.',
        });
      }
      same.push(plugin);
      names.set(plugin.name, same);
    }
    return this;
  }

  /** Every registered plugin, optionally of one kind, sorted by kind then name. */
  list(kind?: PluginKind): AnyPlugin[] {
    const out: AnyPlugin[] = [];
    for (const [k, names] of this.byKind) {
      if (kind && k !== kind) continue;
      for (const plugins of names.values()) out.push(...plugins);
    }
    return out.sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  }

  has(kind: PluginKind, ref: string): boolean {
    try {
      this.resolve(kind, ref);
      return true;
    } catch {
      return false;
    }
  }

  resolve<K extends PluginKind>(kind: K, ref: string, where = kind as string): Plugin<K> {
    const pkg = qualifierOf(ref);
    const name = pkg ? ref.slice(pkg.length + 1) : ref;
    const candidates = this.byKind.get(kind)?.get(name) ?? [];
    const current = pkg ? candidates.filter((p) => samePackage(p.package, pkg)) : candidates;
    // A plugin that moved packages keeps answering to its old qualified name (create() warns).
    const matching = current.length > 0 || !pkg ? current : candidates.filter((p) => namesFormerPackage(p, pkg));
    if (matching.length === 1) return matching[0] as unknown as Plugin<K>;
    if (matching.length > 1) {
      throw new GenviewError('AMBIGUOUS_PLUGIN', `${kind} "${name}" is offered by ${matching.map((p) => p.package).join(' and ')}.`, {
        where,
        fix: `write it as "${matching[0].package}:${name}".`,
      });
    }
    if (pkg && !this.hasPackage(pkg)) throw this.unregisteredPackage(kind, ref, pkg, where);
    const known = this.list(kind).map((p) => p.name);
    const otherKinds = [...this.byKind.entries()].filter(([k, names]) => k !== kind && names.has(name)).map(([k]) => k);
    const suggestions = closestNames(name, known);
    const hint = otherKinds.length
      ? `"${name}" is a ${otherKinds.join('/')} plugin, not a ${kind}.`
      : suggestions.length
        ? `did you mean ${suggestions.map((s) => `"${s}"`).join(', ')}?`
        : `known ${kind} plugins: ${known.join(', ') || '(none registered)'}.`;
    throw new GenviewError('UNKNOWN_PLUGIN', `no ${kind} plugin named "${ref}".`, {
      where,
      fix: `${hint}${known.length && suggestions.length ? ` All ${kind} plugins: ${known.join(', ')}.` : ''} Run \`genview plugins\` for the full list.`,
    });
  }

  /** Whether any plugin of any kind comes from `pkg` (full or short name, current or former package). */
  private hasPackage(pkg: string): boolean {
    return this.list().some((p) => samePackage(p.package, pkg) || (p.formerPackages ?? []).some((former) => samePackage(former, pkg)));
  }

  /**
   * A "package:name" whose package offers nothing here: almost always a third-party package that was
   * installed but never registered, so the fix says how to register it rather than suggesting a
   * built-in plugin whose name happens to be close.
   */
  private unregisteredPackage(kind: PluginKind, ref: string, pkg: string, where: string): GenviewError {
    const packages = [...new Set(this.list().map((p) => p.package))].sort();
    const near = closestNames(pkg, packages);
    return new GenviewError('UNKNOWN_PLUGIN', `no ${kind} plugin named "${ref}": no plugins from the package "${pkg}" are registered.`, {
      where,
      fix: `${near.length ? `did you mean ${near.map((s) => `"${s}:${ref.slice(pkg.length + 1)}"`).join(', ')}? ` : ''}Register the package's plugins before naming them: for genview, list the package in the config (plugins: [${pkg}]) or pass --plugin ${pkg}; in code, registry.register(plugins). Registered packages: ${packages.join(', ') || '(none)'}.`,
    });
  }

  /** Validates `options` against the plugin's schema; returns the config with defaults filled in. */
  validate<K extends PluginKind>(plugin: Plugin<K>, options: Record<string, unknown>, where: string): unknown {
    const parsed = plugin.configSchema.safeParse(options);
    if (!parsed.success) {
      const lines = formatConfigIssues(where, parsed.error.issues);
      throw new GenviewError('INVALID_CONFIG', `invalid options for ${plugin.kind} "${plugin.name}":\n  ${lines.join('\n  ')}`, {
        where,
        fix: `see \`genview plugins ${plugin.name}\` for its options and defaults.`,
      });
    }
    return parsed.data;
  }

  /** Resolves, validates and creates a plugin instance from a config reference. */
  async create<K extends PluginKind>(
    kind: K,
    ref: PluginRef,
    context: Omit<PluginContext, 'registry' | 'path'> & { path?: string },
  ): Promise<PluginInstances[K]> {
    const path = context.path ?? kind;
    const { name, ...options } = typeof ref === 'string' ? { name: ref } : ref;
    if (typeof name !== 'string' || name.length === 0) {
      throw new GenviewError('INVALID_CONFIG', `a ${kind} reference needs a "name".`, {
        where: path,
        fix: `write ${path}: "<plugin name>" or ${path}: { name: "<plugin name>", ... }.`,
      });
    }
    const plugin = this.resolve(kind, name, path);
    if (namesFormerPackage(plugin as AnyPlugin, qualifierOf(name))) {
      context.events.log(
        'registry',
        `${path}: "${name}" is deprecated: ${plugin.kind} "${plugin.name}" moved to ${plugin.package}; write "${plugin.package}:${plugin.name}" or "${plugin.name}".`,
        'warn',
      );
    }
    const config = this.validate(plugin, options, path);
    return plugin.create(config as never, {
      ...context,
      rng: context.rng.fork(path),
      registry: this,
      path,
    });
  }
}
