import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GenviewError } from '@genview/core';

export interface DataDirSpec {
  /** What the files are, for messages: "CIFAR-10 (binary version)". */
  what: string;
  /** Files a split needs. */
  files: readonly string[];
  /** The folder names the official archives unpack to, looked for inside the given dir. */
  subfolders: readonly string[];
  /** Names that mean the user has another edition of the data (the python pickles), with the advice. */
  otherEditions?: readonly { marker: string; advice: string }[];
  /** The whole expected layout, for the error message. */
  layout: string;
}

function listing(dir: string): string {
  try {
    const names = readdirSync(dir).sort();
    return names.length ? names.slice(0, 12).join(', ') + (names.length > 12 ? `, ... (${names.length} entries)` : '') : '(empty)';
  } catch {
    return '(cannot be listed)';
  }
}

/**
 * The folder holding a split's files: `dir` itself or the official archive's folder inside it. A missing
 * dir, missing files, or another edition of the data gives a GenviewError that lists the expected files.
 */
export function findDataDir(given: string, spec: DataDirSpec, where: string): string {
  const dir = resolve(given);
  const fix = `point dir at the folder holding ${spec.layout}.`;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new GenviewError('NOT_FOUND', `${spec.what}: the folder ${dir} does not exist.`, { where, fix });
  }
  const candidates = [dir, ...spec.subfolders.map((name) => join(dir, name))];
  for (const candidate of candidates) {
    if (spec.files.every((file) => existsSync(join(candidate, file)))) return candidate;
  }
  for (const candidate of candidates) {
    for (const other of spec.otherEditions ?? []) {
      if (existsSync(join(candidate, other.marker))) {
        throw new GenviewError('BAD_INPUT', `${spec.what}: ${candidate} holds ${other.marker}, another edition of the data.`, { where, fix: other.advice });
      }
    }
  }
  const best = candidates.find((c) => existsSync(c) && spec.files.some((file) => existsSync(join(c, file)))) ?? dir;
  const missing = spec.files.filter((file) => !existsSync(join(best, file)));
  throw new GenviewError('NOT_FOUND', `${spec.what}: ${best} lacks ${missing.join(', ')} (it holds: ${listing(best)}).`, { where, fix });
}

/** Class names from a text file of one name per line (CIFAR's batches.meta.txt, STL's class_names.txt), if present. */
export function readClassNames(path: string, expected: number): string[] | undefined {
  if (!existsSync(path)) return undefined;
  const names = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  return names.length === expected ? names : undefined;
}
