import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GenviewError } from '@genview/core';

const PACKAGE = '@genview/runner';

/**
 * The runner's version from its package.json, read at run time: found by walking up from this module,
 * which is src/cli/ in a checkout and dist/ (a bundled chunk) in the installed package.
 */
export function runnerVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === PACKAGE && typeof pkg.version === 'string') return pkg.version;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new GenviewError('NOT_FOUND', `cannot find the package.json of ${PACKAGE} above ${fileURLToPath(import.meta.url)}.`, {
    fix: `reinstall ${PACKAGE} (npm install ${PACKAGE})`,
  });
}
