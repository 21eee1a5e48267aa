import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { GenviewError, formatConfigIssues } from '@genview/core';
import { parseDocument } from 'yaml';
import { resolvePluginPaths } from './plugins';
import { type RunConfig, runConfigSchema } from './schema';

/** Parses a scalar from the command line the way YAML would ("5" → 5, "true" → true, "[1,2]" → array). */
function parseValue(text: string): unknown {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) return text;
  return doc.toJS();
}

/** Applies "a.b.c=value" to a plain object, creating objects on the way. */
export function applyOverride(target: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) {
    throw new GenviewError('INVALID_CONFIG', `--set expects path=value, got "${assignment}".`, {
      fix: 'write e.g. --set trainer.epochs=5',
    });
  }
  const path = assignment.slice(0, eq).split('.');
  const value = parseValue(assignment.slice(eq + 1));
  let node: Record<string, unknown> = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next === 'string') {
      // A plugin given by name alone becomes { name } so its options can be set.
      node[key] = { name: next };
    } else if (next === undefined || next === null || typeof next !== 'object' || Array.isArray(next)) {
      node[key] = {};
    }
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

/** Reads YAML text into a plain object, reporting syntax errors with line and column. */
export function parseYaml(text: string, source: string): Record<string, unknown> {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const pos = first.linePos?.[0];
    throw new GenviewError('INVALID_CONFIG', `malformed YAML: ${first.message.split('\n')[0]}`, {
      where: pos ? `${source}:${pos.line}:${pos.col}` : source,
      fix: 'fix the YAML syntax at that line (indentation, a missing colon or quote).',
    });
  }
  const value = doc.toJS() ?? {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new GenviewError('INVALID_CONFIG', 'the config must be a YAML mapping (key: value lines).', { where: source });
  }
  return value as Record<string, unknown>;
}

/** Validates a raw config; every problem names its field path. */
export function validateRunConfig(raw: Record<string, unknown>, source = 'config'): RunConfig {
  const parsed = runConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = formatConfigIssues('', parsed.error.issues);
    throw new GenviewError('INVALID_CONFIG', `invalid config:\n  ${lines.join('\n  ')}`, {
      where: source,
      fix: 'correct or remove the named fields; `genview train --help` lists the sections.',
    });
  }
  return parsed.data;
}

export interface LoadConfigOptions {
  path?: string;
  overrides?: string[];
}

export function loadRunConfig(options: LoadConfigOptions): RunConfig {
  let raw: Record<string, unknown> = {};
  if (options.path) {
    let text: string;
    try {
      text = readFileSync(options.path, 'utf8');
    } catch (error) {
      throw new GenviewError('NOT_FOUND', `cannot read config file ${options.path}.`, {
        fix: 'check the path given to --config.',
        cause: error,
      });
    }
    raw = parseYaml(text, options.path);
  }
  for (const assignment of options.overrides ?? []) applyOverride(raw, assignment);
  const config = validateRunConfig(raw, options.path ?? 'config');
  // Plugin files are named relative to the config file; absolute paths keep the saved run config usable anywhere.
  if (options.path && config.plugins && config.plugins.length > 0) config.plugins = resolvePluginPaths(config.plugins, dirname(resolve(options.path)));
  return config;
}
