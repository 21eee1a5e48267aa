import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors } from '@genview/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, writeTinyConfig } from './tiny-run';

/** Runs `genview train` and sends `signal` once its output shows step `at`; resolves with the exit code and output. */
function trainAndSignal(args: string[], at: number | undefined, signal: NodeJS.Signals): Promise<{ code: number | null; text: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let sent = false;
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (at !== undefined && !sent && new RegExp(`^step ${at} `, 'm').test(text)) {
        sent = true;
        child.kill(signal);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, text }));
  });
}

const stepsIn = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { step: number }).step);

describe('genview train on SIGINT / SIGTERM', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'genview-signals-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const STEPS = 300;
  const setUp = (name: string) => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    const outDir = join(dir, 'run');
    // No periodic checkpoint: the one after the signal is the only one before the end.
    return { outDir, config: writeTinyConfig(dir, outDir, { steps: STEPS, checkpointEvery: 100_000 }) };
  };

  it('finishes the step, writes a checkpoint, exits 130 (SIGINT) / 143 (SIGTERM); --resume ends where an uninterrupted run does', async () => {
    const whole = setUp('whole');
    expect((await trainAndSignal(['--config', whole.config, '--plain'], undefined, 'SIGINT')).code).toBe(0);
    const expected = readFileSync(join(whole.outDir, 'last.safetensors'));

    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      const run = setUp(signal);
      const stopped = await trainAndSignal(['--config', run.config, '--plain'], 20, signal);
      expect(stopped.code, stopped.text).toBe(code);
      expect(stopped.text).toContain(`genview train: ${signal}: finishing the current step`);
      const match = /training stopped after step (\d+) of 300; the checkpoint in .* continues it with --resume/.exec(stopped.text);
      expect(match, stopped.text).not.toBeNull();
      const atStep = Number(match?.[1]);
      expect(atStep).toBeGreaterThanOrEqual(20);
      expect(atStep).toBeLessThan(STEPS);
      const checkpoint = decodeSafetensors(new Uint8Array(readFileSync(join(run.outDir, 'last.safetensors'))));
      expect(checkpoint.metadata?.step).toBe(String(atStep));
      expect(stepsIn(join(run.outDir, 'metrics.jsonl'))).toEqual(Array.from({ length: atStep }, (_, i) => i + 1));
      // It stopped instead of evaluating.
      expect(existsSync(join(run.outDir, 'results.json'))).toBe(false);

      const resumed = await trainAndSignal(['--config', run.config, '--plain', '--resume'], undefined, signal);
      expect(resumed.code, resumed.text).toBe(0);
      expect(readFileSync(join(run.outDir, 'last.safetensors')).equals(expected)).toBe(true);
      expect(stepsIn(join(run.outDir, 'metrics.jsonl'))).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    }
  }, 180_000);
});
