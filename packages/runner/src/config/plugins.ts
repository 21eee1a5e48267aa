import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type AnyPlugin, GenviewError, PLUGIN_KINDS, type Registry, closestNames } from '@genview/core';
import { createRegistry } from '../registry';

/**
 * Third-party plugins the CLI loads: a config's `plugins:` list and `--plugin` flags name ES modules,
 * each a package name (resolved from the config's directory, then from the runner's) or a file path
 * (relative paths resolve against the config file's directory, `--plugin` paths against the current
 * directory). A module exports `plugins` (an array of definePlugin values), or a default export of
 * such an array or of one plugin.
 */
export interface PluginSource {
  /** As written: "my-genview-plugins", "./my-plugins.mjs", "/abs/path.js", "file:///...". */
  spec: string;
  /** The config field or flag it came from, for errors: "plugins[0]", "--plugin". */
  field: string;
  /** Where relative paths and package names resolve from (default: the current directory). */
  baseDir?: string;
}

/** True for a spec naming a file rather than a package. */
export function isPathSpec(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../') || spec === '.' || spec === '..' || spec.startsWith('file:') || isAbsolute(spec) || /^[A-Za-z]:[\\/]/.test(spec);
}

/** A config's relative plugin paths made absolute against its directory, so a saved config works from anywhere. */
export function resolvePluginPaths(specs: readonly string[], baseDir: string): string[] {
  return specs.map((spec) => (isPathSpec(spec) && !spec.startsWith('file:') && !isAbsolute(spec) ? resolve(baseDir, spec) : spec));
}

const FIX =
  'write `export const plugins = [myPlugin, ...]` (each made with definePlugin from @genview/core), or `export default [myPlugin, ...]`, or `export default myPlugin`.';

function fixFor(source: PluginSource): string {
  return isPathSpec(source.spec)
    ? `check the path (in a config it is relative to the config file's directory, with --plugin to the current directory) and that the file is an ES module (.mjs, or .js in a "type": "module" package). ${FIX}`
    : `install the package where the config is (npm install ${source.spec}) or give a file path such as ./my-plugins.mjs. ${FIX}`;
}

function packageName(spec: string): { name: string; subpath: string } {
  const parts = spec.split('/');
  const count = spec.startsWith('@') ? 2 : 1;
  const name = parts.slice(0, count).join('/');
  const rest = parts.slice(count).join('/');
  return { name, subpath: rest ? `./${rest}` : '.' };
}

/** The ESM entry a package's exports / module / main field gives for a subpath (import, node, default conditions). */
function exportTarget(entry: unknown): string | undefined {
  if (typeof entry === 'string') return entry;
  if (Array.isArray(entry)) {
    for (const item of entry) {
      const target = exportTarget(item);
      if (target) return target;
    }
    return undefined;
  }
  if (entry && typeof entry === 'object') {
    const conditions = entry as Record<string, unknown>;
    for (const condition of ['import', 'node', 'default']) {
      if (condition in conditions) {
        const target = exportTarget(conditions[condition]);
        if (target) return target;
      }
    }
  }
  return undefined;
}

/** A package's ES module entry, found from `baseDir` up through node_modules folders. */
function resolvePackageFrom(spec: string, baseDir: string): string | undefined {
  const { name, subpath } = packageName(spec);
  for (let dir = resolve(baseDir); ; dir = dirname(dir)) {
    const pkgDir = join(dir, 'node_modules', name);
    const manifest = join(pkgDir, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: unknown; module?: string; main?: string };
      let target: string | undefined;
      if (pkg.exports !== undefined) {
        const exportsField = pkg.exports as Record<string, unknown>;
        const keyed = typeof exportsField === 'object' && !Array.isArray(exportsField) && Object.keys(exportsField).some((k) => k.startsWith('.'));
        target = exportTarget(keyed ? exportsField[subpath] : subpath === '.' ? exportsField : undefined);
      } else {
        target = subpath === '.' ? (pkg.module ?? pkg.main ?? 'index.js') : subpath;
      }
      return target ? join(pkgDir, target) : undefined;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** Package names in the node_modules folders from `baseDir` up: the candidates for a misspelt plugin package. */
function installedPackages(baseDir: string): string[] {
  const names = new Set<string>();
  const entries = (dir: string) => {
    try {
      return readdirSync(dir).filter((entry) => !entry.startsWith('.'));
    } catch {
      return [];
    }
  };
  for (let dir = resolve(baseDir); ; dir = dirname(dir)) {
    const modules = join(dir, 'node_modules');
    for (const entry of entries(modules)) {
      if (!entry.startsWith('@')) names.add(entry);
      else for (const scoped of entries(join(modules, entry))) names.add(`${entry}/${scoped}`);
    }
    if (dirname(dir) === dir) return [...names].sort();
  }
}

/**
 * Why a package spec did not import, in the user's terms: where it was looked for and, when one is
 * close, the installed package they probably meant (Node's own message names the runner's bundle chunk).
 */
function packageNotFound(source: PluginSource): { reason: string; fix: string } {
  const baseDir = resolve(source.baseDir ?? process.cwd());
  const { name } = packageName(source.spec);
  const near = closestNames(name, installedPackages(baseDir));
  return {
    reason: `no package "${name}" is installed in the node_modules folders from ${baseDir} up, nor beside @genview/runner.`,
    fix: `${near.length ? `did you mean ${near.map((n) => `"${n}"`).join(', ')} (installed)? ` : ''}Install the package where the config is (npm install ${name}) or give a file path such as ./my-plugins.mjs.`,
  };
}

function isModuleNotFound(error: unknown, spec: string): boolean {
  const code = (error as { code?: string }).code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((error as Error).message).includes(packageName(spec).name);
}

/** The URL a spec imports from: a file URL for paths and packages found from baseDir, else the bare name. */
function moduleUrl(source: PluginSource): string {
  const baseDir = source.baseDir ?? process.cwd();
  if (source.spec.startsWith('file:')) return source.spec;
  if (isPathSpec(source.spec)) return pathToFileURL(resolve(baseDir, source.spec)).href;
  const local = resolvePackageFrom(source.spec, baseDir);
  return local ? pathToFileURL(local).href : source.spec;
}

function looksLikePlugin(value: unknown): value is AnyPlugin {
  const p = value as Partial<AnyPlugin> | null;
  return (
    !!p &&
    typeof p === 'object' &&
    typeof p.kind === 'string' &&
    typeof p.name === 'string' &&
    typeof p.create === 'function' &&
    !!p.configSchema &&
    typeof (p.configSchema as { safeParse?: unknown }).safeParse === 'function'
  );
}

/** The plugins a module exports: `plugins`, or a default export of an array or of one plugin. */
function pluginsOf(mod: Record<string, unknown>, source: PluginSource): AnyPlugin[] {
  const def = mod.default as unknown;
  const candidates: unknown =
    mod.plugins ??
    (Array.isArray(def) || looksLikePlugin(def) ? def : def && typeof def === 'object' ? (def as Record<string, unknown>).plugins : undefined);
  const list = candidates === undefined ? [] : Array.isArray(candidates) ? candidates : [candidates];
  if (list.length === 0) {
    const names = Object.keys(mod).filter((k) => k !== '__esModule');
    throw new GenviewError('INVALID_CONFIG', `plugin module "${source.spec}" exports no plugins (its exports: ${names.length > 0 ? names.join(', ') : 'none'}).`, {
      where: source.field,
      fix: FIX,
    });
  }
  list.forEach((plugin, i) => {
    const p = plugin as Partial<AnyPlugin> | null;
    if (!looksLikePlugin(plugin)) {
      throw new GenviewError('INVALID_CONFIG', `plugin module "${source.spec}": entry ${i} of its plugins is not a plugin (it needs kind, name, package, description, configSchema and create()).`, {
        where: source.field,
        fix: FIX,
      });
    }
    if (!PLUGIN_KINDS.includes(plugin.kind) || typeof p?.package !== 'string' || p.package.length === 0) {
      throw new GenviewError(
        'INVALID_CONFIG',
        `plugin module "${source.spec}": plugin "${plugin.name}" has ${PLUGIN_KINDS.includes(plugin.kind) ? 'no package name' : `the unknown kind "${plugin.kind}"`}.`,
        { where: source.field, fix: `give it package: "<your package>" and one of the kinds ${PLUGIN_KINDS.join(', ')}.` },
      );
    }
  });
  return list as AnyPlugin[];
}

/** Imports every source's module once (the same file named twice loads once) and returns their plugins in order. */
export async function loadPluginModules(sources: readonly PluginSource[]): Promise<AnyPlugin[]> {
  const seen = new Set<string>();
  const plugins: AnyPlugin[] = [];
  for (const source of sources) {
    const url = moduleUrl(source);
    if (seen.has(url)) continue;
    seen.add(url);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(/* @vite-ignore */ url)) as Record<string, unknown>;
    } catch (error) {
      const path = url.startsWith('file:') ? fileURLToPath(url) : undefined;
      const missing = path ? !existsSync(path) : isModuleNotFound(error, source.spec);
      if (missing && !path) {
        const { reason, fix } = packageNotFound(source);
        throw new GenviewError('NOT_FOUND', `cannot import plugin module "${source.spec}": ${reason}`, { where: source.field, fix, cause: error });
      }
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      // The module is there but a package it imports is not (e.g. @genview/core beside a plugin file).
      const dependencyMissing = !missing && (error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND';
      throw new GenviewError(missing ? 'NOT_FOUND' : 'INVALID_CONFIG', `cannot import plugin module "${source.spec}": ${reason}`, {
        where: source.field,
        fix: dependencyMissing
          ? 'install the packages the module imports where it can find them (a plugin needs @genview/core in its project: npm install @genview/core).'
          : missing
            ? fixFor(source)
            : `fix the error the module raised while loading. ${FIX}`,
        cause: error,
      });
    }
    plugins.push(...pluginsOf(mod, source));
  }
  return plugins;
}

export interface PluginLoadOptions {
  /** `--plugin` specs, loaded after the config's. */
  cliPlugins?: readonly string[];
  /** Where `--plugin` paths and packages resolve from (default: the current directory). */
  cwd?: string;
  /** The config file, whose directory the config's specs resolve from (loadRunConfig has already made its paths absolute). */
  configPath?: string;
}

/** The sources named by a config's `plugins:` and by `--plugin` flags, each with its field. */
export function pluginSources(configPlugins: readonly string[] | undefined, options: PluginLoadOptions = {}): PluginSource[] {
  const cwd = options.cwd ?? process.cwd();
  const configDir = options.configPath ? dirname(resolve(cwd, options.configPath)) : cwd;
  return [
    ...(configPlugins ?? []).map((spec, i) => ({ spec, field: `plugins[${i}]`, baseDir: configDir })),
    ...(options.cliPlugins ?? []).map((spec) => ({ spec, field: '--plugin', baseDir: cwd })),
  ];
}

/**
 * createRegistry() with the third-party plugins a config and the command line name registered on top,
 * so configs can name them and `genview plugins` lists them.
 */
export async function createRegistryWithPlugins(configPlugins: readonly string[] | undefined, options: PluginLoadOptions = {}): Promise<Registry> {
  const sources = pluginSources(configPlugins, options);
  if (sources.length === 0) return createRegistry();
  const registry = createRegistry();
  const seen = new Set<string>();
  for (const source of sources) {
    const url = moduleUrl(source);
    if (seen.has(url)) continue;
    seen.add(url);
    const plugins = await loadPluginModules([source]);
    try {
      registry.register(plugins);
    } catch (error) {
      if (error instanceof GenviewError && error.code === 'DUPLICATE_PLUGIN') {
        throw new GenviewError('DUPLICATE_PLUGIN', `plugin module "${source.spec}": ${error.problem}`, {
          where: source.field,
          fix: 'give the plugin another name or package, or name its module once (in plugins: or with --plugin, not both under two paths).',
        });
      }
      throw error;
    }
  }
  return registry;
}
