import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What the packed-package tests share: run a command the way a user's shell would (no fund/audit
 * chatter, no onnxruntime CUDA download), pack a workspace package or any folder into a scratch
 * directory, and install tarballs into a fresh project without a lock file.
 */

export const repoRoot = join(import.meta.dirname, '..', '..');

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

const quietEnv = { ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' };

/** Runs a command to its end and returns its exit code and output, whatever the code. */
export function spawnIn(command: string, args: readonly string[], cwd: string, env: Record<string, string> = {}): Ran {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, ...quietEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs a command that must succeed and returns its stdout; a failure throws with its stderr, so the test says why. */
export function run(command: string, args: readonly string[], cwd: string, env: Record<string, string> = {}): string {
  const ran = spawnIn(command, args, cwd, env);
  if (ran.code !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${ran.code}:\n${ran.stderr}\n${ran.stdout}`);
  return ran.stdout;
}

/** `npm pack` of a folder into `destination`; returns the tarball's path. */
export function packDir(dir: string, destination: string): string {
  const out = run('npm', ['pack', '--json', '--pack-destination', destination], dir);
  const [{ filename }] = JSON.parse(out) as { filename: string }[];
  return join(destination, filename);
}

/** Packs packages/<name>, building its dist first only when there is none (CI builds before testing). */
export function packWorkspace(name: string, destination: string): string {
  const dir = join(repoRoot, 'packages', name);
  if (!existsSync(join(dir, 'dist', 'index.js'))) run('npx', ['tsup'], dir);
  return packDir(dir, destination);
}

/**
 * A fresh project at `dir` whose package.json holds `manifest`, then `npm install` of the tarballs (with
 * none, of what the manifest lists), from the cache where it can.
 */
export function installInto(dir: string, tarballs: readonly string[], manifest: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ private: true, type: 'module', ...manifest }, null, 2)}\n`);
  run('npm', ['install', '--no-package-lock', '--prefer-offline', ...tarballs], dir);
}
