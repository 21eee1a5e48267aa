import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporaryPathFor } from '@genview/core';
import type { TrainerOptions } from '@genview/runner';
import { describe, expect, it } from 'vitest';
import { makeTinyTrainer, rowWeights } from './tiny-trainer';

const STEPS = 60;

function makeTrainer(outDir: string, extra: Partial<TrainerOptions> = {}) {
  return makeTinyTrainer(outDir, { totalSteps: STEPS, checkpointEvery: 20, logEvery: 5, quality: rowWeights, ...extra });
}

function stepsIn(path: string): number[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { step: number }).step);
}

const every5 = Array.from({ length: STEPS / 5 }, (_, i) => 5 * (i + 1));

describe('resuming after a crash', () => {
  it('cuts metrics.jsonl and quality-weights.jsonl back to the checkpoint, so each step is logged once, and removes dead temporaries', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'genview-resume-logs-'));
    // The run dies right after logging step 35; its last checkpoint is step 20.
    const crash = await makeTrainer(dir, {
      monitor: {
        every: 35,
        run: async () => {
          throw new Error('killed');
        },
      },
    });
    await expect(crash.trainer.run()).rejects.toThrow('killed');
    crash.trainer.dispose();
    crash.framework.dispose();
    expect(stepsIn(join(dir, 'metrics.jsonl'))).toEqual(every5.filter((s) => s <= 35));
    // What a kill -9 can also leave: a line cut short, and the temporary of a checkpoint write.
    appendFileSync(join(dir, 'metrics.jsonl'), '{"step":40,"lo');
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid as number;
    const temp = temporaryPathFor(join(dir, 'last.safetensors')).replace(`.${process.pid}.`, `.${deadPid}.`);
    writeFileSync(temp, 'half a checkpoint');

    const resumed = await makeTrainer(dir);
    expect(resumed.trainer.resume().step).toBe(20);
    const summary = await resumed.trainer.run();
    expect(summary.startStep).toBe(20);
    resumed.trainer.dispose();
    resumed.framework.dispose();
    expect(stepsIn(join(dir, 'metrics.jsonl'))).toEqual(every5);
    expect(stepsIn(join(dir, 'quality-weights.jsonl'))).toEqual(every5);
    expect(existsSync(temp)).toBe(false);
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);

    // A fresh run (no resume) in the same folder starts its logs over instead of appending to them.
    const again = await makeTrainer(dir, { totalSteps: 10 });
    await again.trainer.run();
    again.trainer.dispose();
    again.framework.dispose();
    expect(stepsIn(join(dir, 'metrics.jsonl'))).toEqual([5, 10]);
  }, 120_000);
});
