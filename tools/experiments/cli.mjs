// What the experiment scripts share: where the built `genview` CLI is, environment knobs, and one way
// to run a CLI command (output to the terminal, or to a log file when runs share the terminal).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'packages/runner/dist/cli.js');

/** An environment knob's value, or the fallback when unset. */
export const env = (name, fallback) => process.env[name] ?? fallback;

/** Exits with the build command when the CLI has not been built. */
export function requireBuiltCli(buildHint) {
  if (existsSync(cli)) return;
  console.error(`${cli} is missing: build first (${buildHint}).`);
  process.exit(1);
}

/**
 * Runs `genview <args>` from the repo root and resolves to its wall seconds; rejects when it fails.
 * `plain` adds --plain (line-per-event progress) to every command but `report`.
 */
export function genview(args, { log, plain = false } = {}) {
  console.log(`$ genview ${args.join(' ')}${log ? `  > ${log}` : ''}`);
  const started = performance.now();
  return new Promise((done, fail) => {
    const extra = plain && args[0] !== 'report' ? ['--plain'] : [];
    const child = spawn(process.execPath, [cli, ...args, ...extra], { cwd: root, stdio: log ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    if (log) {
      const file = createWriteStream(log);
      child.stdout.pipe(file);
      child.stderr.pipe(file);
    }
    child.on('error', fail);
    child.on('close', (code) => {
      const seconds = ((performance.now() - started) / 1000).toFixed(0);
      if (code === 0) done(Number(seconds));
      else fail(new Error(`genview ${args[0]} exited with ${code} after ${seconds} s${log ? `; see ${log}` : ''}`));
    });
  });
}
