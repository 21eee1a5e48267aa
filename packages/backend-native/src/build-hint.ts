import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

function onPath(names: readonly string[]): boolean {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  return names.some((name) => dirs.some((dir) => existsSync(join(dir, name))));
}

/** The build tools node-gyp needs that this machine lacks (checked on PATH; no process is started). */
export function missingBuildTools(): string[] {
  const missing: string[] = [];
  const cxx = process.env.CXX ? [process.env.CXX] : ['c++', 'g++', 'clang++'];
  if (!onPath(cxx)) missing.push('a C++ compiler');
  if (!onPath(['make', 'gmake'])) missing.push('make');
  if (!onPath(['python3', 'python'])) missing.push('python3');
  return missing;
}

const BUILD_COMMAND = 'npm run build:native -w @genview/backend-native';

/**
 * What to tell a user whose addon is missing: the tool that stops the build when one is absent (the
 * install script swallows the failure so `npm install` succeeds), else the build command alone.
 */
export function buildHint(): string {
  const missing = missingBuildTools();
  if (missing.length > 0) {
    const list = missing.length === 1 ? missing[0] : `${missing.slice(0, -1).join(', ')} and ${missing.at(-1)}`;
    return `this machine lacks ${list}, so npm install could not compile it; fix: \`apt-get install g++ make python3\` (Debian/Ubuntu), then \`${BUILD_COMMAND}\``;
  }
  return `npm skipped or failed its install-time build; fix: \`${BUILD_COMMAND}\` (no BLAS needed; it prints the compiler's error if the build fails)`;
}
