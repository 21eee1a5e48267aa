import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { RunConfig } from '../config/schema';
import { isPathSpec } from '../config/plugins';

/**
 * Plugin options that name a place on disk (a dataset folder, a view store, a model export, a
 * foreground-direction file). Where a file lives says nothing about what the run trains.
 */
const PATH_OPTIONS = new Set(['dir', 'path', 'fashionDir', 'direction']);

/** Service names that carry a folder: checkpoint:<run dir> always, onnx:<folder or file> unless it names the bundled model. */
const SERVICE_WITH_PATH = /^(checkpoint|onnx):(.+)$/;

function withoutPaths(value: unknown): unknown {
  if (typeof value === 'string') {
    const service = SERVICE_WITH_PATH.exec(value);
    if (service && (service[1] === 'checkpoint' || /[\\/.]/.test(service[2]))) {
      // An onnx:<file>?options encoder keeps its options: they change the features, the folder does not.
      const query = service[1] === 'onnx' ? service[2].indexOf('?') : -1;
      return `${service[1]}:${query >= 0 ? service[2].slice(query) : ''}`;
    }
    return value;
  }
  if (Array.isArray(value)) return value.map(withoutPaths);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (PATH_OPTIONS.has(key) && typeof v === 'string') continue;
    out[key] = withoutPaths(v);
  }
  return out;
}

/**
 * The config with every filesystem location left out: outDir, generate.store, plugin files (their
 * file name stays), path options of plugin references and the folders in service names. Two runs that
 * differ only in where they read and write then hash alike, so their checkpoints have the same bytes.
 */
export function pathFreeConfig(config: RunConfig): unknown {
  const { outDir: _outDir, plugins, generate, ...rest } = config;
  const { store: _store, ...generateRest } = generate;
  return withoutPaths({
    ...rest,
    ...(plugins ? { plugins: plugins.map((spec) => (isPathSpec(spec) ? basename(spec) : spec)) } : {}),
    generate: generateRest,
  });
}

/** The run's hash, stamped on its checkpoints so a resume with another config is flagged; paths do not count. */
export function hashConfig(config: RunConfig): string {
  return createHash('sha256').update(JSON.stringify(pathFreeConfig(config))).digest('hex').slice(0, 16);
}
