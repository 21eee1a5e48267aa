import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Dataset, EventBus, type QualityScorer, Rng, temporaryPathFor, tf } from '@genview/core';
import { Trainer, type TrainerOptions, createRegistry } from '@genview/runner';
import { inMemoryDataset } from '@genview/datasets';
import { ViewPipeline } from '@genview/views';
import { describe, expect, it } from 'vitest';

const STEPS = 60;

function tinyData(): Dataset {
  return inMemoryDataset(new Rng(3).uniformArray(64 * 8 * 8), [64, 8, 8, 1]);
}

/** Weights every pair by its row index, so the logged weights say which step they came from only through the step field. */
const rowWeights: QualityScorer = {
  name: 'row-weights',
  pairWeights: ({ views }) => tf.tidy(() => tf.div(tf.add(tf.range(0, views[0].shape[0]), 1), (views[0].shape[0] + 1) / 2)) as tf.Tensor1D,
};

async function makeTrainer(outDir: string, extra: Partial<TrainerOptions> = {}) {
  const registry = createRegistry();
  const context = { rng: new Rng(11), events: new EventBus() };
  const framework = await registry.create(
    'framework',
    { name: 'simclr', inputShape: [8, 8, 1], backbone: { name: 'small-cnn', widths: [4, 8] }, projector: { name: 'mlp-projector', hiddenDim: 16, outDim: 8 } },
    { ...context, path: 'framework' },
  );
  const views = await Promise.all(
    [0, 1].map(async (v) => new ViewPipeline([await registry.create('augment', { name: 'random-resized-crop', size: 8, scale: [0.5, 1] }, { ...context, path: `v${v}` })])),
  );
  const trainer = new Trainer({
    framework,
    data: tinyData(),
    views,
    optimizer: { name: 'sgd', momentum: 0.9 },
    learningRate: () => 0.05,
    totalSteps: STEPS,
    batchSize: 16,
    seed: 5,
    outDir,
    checkpointEvery: 20,
    logEvery: 5,
    quality: rowWeights,
    ...extra,
  });
  return { trainer, framework };
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
