import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Dataset, EventBus, Rng, tf } from '@genview/core';
import { Trainer, createRegistry } from '@genview/runner';
import { inMemoryDataset } from '@genview/datasets';
import { describe, expect, it } from 'vitest';

const STEPS = Number(process.env.GENVIEW_RESUME_STEPS ?? 2000);

/** 64 random 8x8 grey images: enough for the loop's mechanics, cheap enough for thousands of steps. */
function tinyData(): Dataset {
  const rng = new Rng(3);
  const pixels = rng.uniformArray(64 * 8 * 8);
  return inMemoryDataset(pixels, [64, 8, 8, 1]);
}

async function makeTrainer(outDir: string | undefined, totalSteps: number) {
  const registry = createRegistry();
  const events = new EventBus();
  const context = { rng: new Rng(11), events };
  const framework = await registry.create(
    'framework',
    {
      name: 'simclr',
      inputShape: [8, 8, 1],
      backbone: { name: 'small-cnn', widths: [4, 8] },
      projector: { name: 'mlp-projector', hiddenDim: 16, outDim: 8 },
      loss: { name: 'nt-xent', temperature: 0.5 },
    },
    { ...context, path: 'framework' },
  );
  const views = await Promise.all(
    [0, 1].map(async (v) => {
      const { ViewPipeline } = await import('@genview/views');
      return new ViewPipeline([
        await registry.create('augment', { name: 'random-resized-crop', size: 8, scale: [0.5, 1] }, { ...context, path: `v${v}.crop` }),
        await registry.create('augment', { name: 'horizontal-flip' }, { ...context, path: `v${v}.flip` }),
      ]);
    }),
  );
  const trainer = new Trainer({
    framework,
    data: tinyData(),
    views,
    optimizer: { name: 'sgd', momentum: 0.9, weightDecay: 1e-4 },
    learningRate: (step) => 0.05 * (1 - step / totalSteps),
    totalSteps,
    batchSize: 16,
    seed: 5,
    outDir,
    checkpointEvery: Math.max(1, Math.floor(totalSteps / 4)),
    logEvery: 50,
    events,
  });
  return { trainer, framework };
}

async function weightsOf(trainer: Trainer): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const v of trainer.stateVariables()) out.set(v.name, Float32Array.from(await v.variable.data()));
  return out;
}

describe('Trainer', () => {
  it(`resumes exactly: ${STEPS} steps equal ${STEPS / 2} + resume ${STEPS / 2}, with no tensor leak`, async () => {
    const straightDir = mkdtempSync(join(tmpdir(), 'genview-straight-'));
    const straight = await makeTrainer(straightDir, STEPS);
    let atStep10 = -1;
    let atStep1000 = -1;
    for (let step = 0; step < STEPS; step++) {
      await straight.trainer.step(step);
      if (step + 1 === 10) atStep10 = tf.memory().numTensors;
      if (step + 1 === Math.min(1000, STEPS)) atStep1000 = tf.memory().numTensors;
    }
    expect(atStep1000).toBe(atStep10);
    const expected = await weightsOf(straight.trainer);
    straight.trainer.dispose();
    straight.framework.dispose();

    const dir = mkdtempSync(join(tmpdir(), 'genview-resume-'));
    const first = await makeTrainer(dir, STEPS);
    for (let step = 0; step < STEPS / 2; step++) await first.trainer.step(step);
    await first.trainer.checkpoint(STEPS / 2);
    first.trainer.dispose();
    first.framework.dispose();

    const second = await makeTrainer(dir, STEPS);
    expect(second.trainer.resume().step).toBe(STEPS / 2);
    const summary = await second.trainer.run();
    expect(summary.startStep).toBe(STEPS / 2);
    const resumed = await weightsOf(second.trainer);
    expect([...resumed.keys()]).toEqual([...expected.keys()]);
    for (const [name, values] of expected) expect(resumed.get(name), name).toEqual(values);
    // The run logged metrics as JSONL.
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ step: STEPS });
    expect(Number.isFinite(lines.at(-1).loss)).toBe(true);
    second.trainer.dispose();
    second.framework.dispose();
  }, 600_000);
});
