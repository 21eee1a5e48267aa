import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EventBus,
  type FeatureExtractor,
  type Framework,
  type FrameworkStages,
  type StageInfo,
  backboneFeatures,
  buildBackbone,
  buildHead,
  definePlugin,
  forwardViews,
  inputShapeSchema,
  l2Normalize,
  named,
  tf,
  writeFileAtomic,
  z,
} from '@genview/core';
import { createRegistry, evaluateFromConfig, runConfigSchema, trainFromConfig } from '@genview/runner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A third-party two-stage framework written against @genview/core alone: stage 1 trains a small CNN;
 * stage 2 trains a fresh one on the samples in reverse order, knowing how many samples stage 1 saw
 * (its carried state) and reusing stage 1's frozen encoder in its own (so evaluation sees both). Every
 * hook records its call, so the test can check the host called them in order.
 */
interface ToyCarry {
  samples: number;
}

function toyPlugin(calls: string[]) {
  return definePlugin({
    kind: 'framework',
    name: 'toy-two-stage',
    package: 'toy-stages',
    description: 'test framework: two stages, carried state, frozen first stage reused by the second.',
    configSchema: z.object({ inputShape: inputShapeSchema.optional() }).strict(),
    async create(config, context) {
      const build = async (frozen?: FeatureExtractor): Promise<Framework> => {
        const backbone = await buildBackbone(context, { name: 'small-cnn', widths: [4, 8] }, config.inputShape);
        const projector = await buildHead(context, { name: 'mlp-projector', hiddenDim: 8, outDim: 4 }, backbone.featureDim, `${context.path}.projector`);
        const modules = () => [named(backbone, 'backbone'), named(projector, 'projector')];
        const own = backboneFeatures(backbone);
        return {
          name: 'toy',
          trainableModules: modules,
          stateModules: modules,
          loss: (batch) =>
            tf.tidy(() => {
              if (frozen) calls.push(`loss 2 reads ${batch.indices[0]}`);
              const [a, b] = forwardViews(batch.views, [backbone, projector], true);
              return tf.neg(tf.mean(tf.sum(tf.mul(l2Normalize(a, 1), l2Normalize(b, 1)), 1))) as tf.Scalar;
            }),
          encoder: () =>
            frozen
              ? { featureDim: frozen.featureDim + own.featureDim, embed: (images) => tf.tidy(() => tf.concat([frozen.embed(images), own.embed(images)], 1) as tf.Tensor2D) }
              : own,
          dispose: () => {
            backbone.dispose();
            projector.dispose();
          },
        };
      };
      const stages: FrameworkStages<ToyCarry> = {
        count: 2,
        settings: { note: 'toy' },
        stepsPerStage(totalSteps) {
          calls.push(`stepsPerStage ${totalSteps}`);
          return [2, totalSteps - 2];
        },
        stageDetails(stage, carried) {
          calls.push(`stageDetails ${stage.index + 1}`);
          return { sawSamples: carried?.samples ?? null };
        },
        batchOrder(stage: StageInfo, carried, batchSize) {
          calls.push(`batchOrder ${stage.index + 1}`);
          if (!carried) return undefined;
          // Stage 2 reads the training set from its last sample down, one batch after another.
          const n = carried.samples;
          return { stepsPerEpoch: Math.floor(n / batchSize), indices: (step) => Int32Array.from({ length: batchSize }, (_, i) => n - 1 - ((step * batchSize + i) % n)) };
        },
        async finishStage(stage, run, carried) {
          calls.push(`finishStage ${stage.info.index + 1} (carried ${carried === undefined ? 'nothing' : 'something'})`);
          if (stage.info.dir) await writeFileAtomic(join(stage.info.dir, 'toy.json'), JSON.stringify({ samples: run.data.info.size }));
          return { carry: { samples: run.data.info.size }, details: { wrote: 'toy.json' }, metrics: { samples: run.data.info.size } };
        },
        async nextStage(stage, finished, carried) {
          calls.push(`nextStage ${stage.index + 1} after ${finished.length} (carried ${carried ? carried.samples : 'nothing'})`);
          return build(finished[0].framework.encoder());
        },
        integrate(encoders) {
          calls.push(`integrate ${encoders.length}`);
          return encoders[encoders.length - 1];
        },
      };
      return { ...(await build()), stages };
    },
  });
}

const digits = (split: string, count: number) => ({ name: 'colored-digits', split, count, size: 8, colors: 3, seed: 3 });

function toyConfig(outDir: string) {
  return runConfigSchema.parse({
    seed: 4,
    outDir,
    data: { train: digits('train', 64), test: digits('test', 32) },
    views: { pipelines: [[{ name: 'random-resized-crop', size: 8, scale: [0.5, 1] }], [{ name: 'random-resized-crop', size: 8, scale: [0.5, 1] }]] },
    framework: 'toy-stages:toy-two-stage',
    optimizer: { name: 'adam' },
    trainer: { steps: 5, batchSize: 16, lr: 2e-3, scaleLr: false, logEvery: 1 },
    eval: { evaluators: [{ name: 'knn', k: [5] }], baselines: true },
  });
}

describe('a third-party multi-stage framework', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'genview-stages-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('trains through the runner: hooks in order, one directory per stage, integrated and per-stage results; genview eval reads it back', async () => {
    const calls: string[] = [];
    const registry = createRegistry([toyPlugin(calls)]);
    const outDir = join(root, 'toy');
    const before = tf.memory().numTensors;
    const result = await trainFromConfig(toyConfig(outDir), { registry, events: new EventBus() });
    expect(tf.memory().numTensors).toBe(before);

    expect(calls.filter((c) => !c.startsWith('loss'))).toEqual([
      'stepsPerStage 5',
      'stageDetails 1',
      'batchOrder 1',
      'finishStage 1 (carried nothing)',
      'nextStage 2 after 1 (carried 64)',
      'stageDetails 2',
      'batchOrder 2',
      'integrate 2',
    ]);
    // Stage 2 read the batches its batchOrder gave: 63 down to 48, then 47 down to 32, then 31 down.
    expect(calls.filter((c) => c.startsWith('loss'))).toEqual(['loss 2 reads 63', 'loss 2 reads 47', 'loss 2 reads 31']);

    expect(result.summary.steps).toBe(5);
    expect(result.stages).toMatchObject({
      framework: 'toy',
      count: 2,
      stepsPerStage: [2, 3],
      settings: { note: 'toy' },
      perStage: [
        { stage: 1, dir: 'stage-1', steps: 2, startStep: 0, sawSamples: null, wrote: 'toy.json' },
        { stage: 2, dir: 'stage-2', steps: 3, startStep: 0, sawSamples: 64 },
      ],
    });
    for (const dir of ['stage-1', 'stage-2']) expect(existsSync(join(outDir, dir, 'last.safetensors'))).toBe(true);
    expect(JSON.parse(readFileSync(join(outDir, 'stage-1', 'toy.json'), 'utf8'))).toEqual({ samples: 64 });
    expect(JSON.parse(readFileSync(join(outDir, 'stages.json'), 'utf8'))).toEqual({ framework: 'toy', count: 2, stepsPerStage: [2, 3], dirs: ['stage-1', 'stage-2'] });
    const metrics = readFileSync(join(outDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(metrics.filter((l) => l.split === 'toy')).toEqual([{ step: 2, split: 'toy', stage: 1, samples: 64 }]);
    expect(metrics.filter((l) => l.split === undefined).map((l) => l.step)).toEqual([1, 2, 3, 4, 5]);

    // The integrated encoder (stage 2's: frozen stage 1 beside its own) comes first, then each stage, then the baselines.
    const names = ['toy integrated (2 stages)', 'toy stage 1', 'toy stage 2', 'random encoder', 'raw pixels'];
    expect(result.evaluations.map((e) => e.encoder)).toEqual(names);
    expect(result.evaluations[0].results[0].description).toMatch(/\(D=16\)/);
    expect(result.evaluations[1].results[0].description).toMatch(/\(D=8\)/);

    // `genview eval` rebuilds both stages (nextStage with nothing carried) and reports the same numbers.
    calls.length = 0;
    const evaluated = await evaluateFromConfig(toyConfig(outDir), { registry, events: new EventBus() });
    expect(tf.memory().numTensors).toBe(before);
    expect(calls).toEqual(['nextStage 2 after 1 (carried nothing)', 'integrate 2']);
    expect(evaluated.steps).toEqual([2, 3]);
    expect(evaluated.encoder).toBe('toy integrated (2 stages)');
    expect(evaluated.evaluations.map((e) => e.encoder)).toEqual(names);
    expect(evaluated.evaluations.map((e) => e.results[0].metrics)).toEqual(result.evaluations.map((e) => e.results[0].metrics));
  }, 120_000);

  it('a stop request ends the stage under way with a checkpoint; --resume continues it and the later stage', async () => {
    const registry = createRegistry([toyPlugin([])]);
    const outDir = join(root, 'stopped');
    const stop = new AbortController();
    stop.abort();
    await expect(trainFromConfig(toyConfig(outDir), { registry, events: new EventBus(), stop: stop.signal })).rejects.toMatchObject({ name: 'TrainingInterrupted', atStep: 1, stage: 1 });
    expect(existsSync(join(outDir, 'stage-1', 'last.safetensors'))).toBe(true);
    expect(existsSync(join(outDir, 'stage-2'))).toBe(false);
    const resumed = await trainFromConfig(toyConfig(outDir), { registry, events: new EventBus(), resume: true });
    expect(resumed.stages?.perStage.map((s) => s.startStep)).toEqual([1, 0]);
    expect(resumed.summary.steps).toBe(4);
  }, 120_000);
});
