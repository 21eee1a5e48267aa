import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventBus, GenviewError, decodeSafetensors, tf } from '@genview/core';
import {
  type RunConfig,
  createRegistry,
  createRunnerServices,
  evaluateFromConfig,
  exportRun,
  loadRunConfig,
  main,
  runConfigSchema,
  trainFromConfig,
  validateRunConfig,
} from '@genview/runner';
import { collectRuns, parseReportSpec } from '@genview/runner/report';
import type { PseudoLabelFile } from '../src/frameworks/mcl/framework';
import { runEvalJob } from '../src/queue/eval-worker';
import { backboneRefOf } from '../src/run/finetune';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mclStageSteps } from '../src/frameworks/mcl/settings';
import { preflight } from '../src/run/preflight';
import { migrateRunConfig } from '../src/config/migrate';
import { sink } from './output-sink';

const EXAMPLES = fileURLToPath(new URL('../../../examples/configs/', import.meta.url));

/** A run config for tests: 64 coloured digits of 8x8, two stages of 3 steps, kNN only. */
function tinyConfig(outDir: string, overrides: Record<string, unknown> = {}): RunConfig {
  const digits = (split: string, count: number) => ({ name: 'colored-digits', split, count, size: 8, colors: 3, colorTarget: 'background', seed: 3 });
  return runConfigSchema.parse({
    seed: 2,
    outDir,
    data: { train: digits('train', 64), test: digits('test', 32) },
    views: {
      pipelines: [[{ name: 'random-resized-crop', size: 8, scale: [0.5, 1] }], [{ name: 'random-resized-crop', size: 8, scale: [0.5, 1] }]],
    },
    framework: { name: 'simclr', backbone: { name: 'small-cnn', widths: [4, 8] }, projector: { name: 'mlp-projector', hiddenDim: 8, outDim: 4 } },
    optimizer: { name: 'adam' },
    trainer: { steps: 6, batchSize: 16, lr: 2e-3, scaleLr: false, logEvery: 1, checkpointEvery: 500 },
    mcl: { stages: 2, clustering: { k: 3, algorithm: 'lloyd' } },
    eval: { evaluators: [{ name: 'knn', k: [5] }], baselines: true },
    ...overrides,
  });
}

function expectGenviewError(run: () => unknown, where: RegExp): GenviewError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(GenviewError);
    const e = error as GenviewError;
    expect(`${e.where ?? ''} ${e.message}`).toMatch(where);
    expect(e.fix).toBeTruthy();
    return e;
  }
  throw new Error('expected a GenviewError');
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

interface ResultsFile {
  totalSteps: number;
  summary: { steps: number; startStep: number };
  evaluations: { encoder: string; results: { evaluator: string; metrics: Record<string, number> }[] }[];
  stages: {
    framework: string;
    count: number;
    stepsPerStage: number[];
    settings: { negatives: string; clustering: { k: number } };
    perStage: { stage: number; dir: string; steps: number; startStep: number; trainedWithPseudoLabels: number | null; kmeans?: { inertia: number; pseudoLabels: number; file: string } }[];
  };
}

describe('mcl run config', () => {
  it('defaults to 3 stages with MCL upstream clustering, evaluating every stage', () => {
    const config = runConfigSchema.parse({ mcl: {} });
    expect(config.mcl).toEqual({
      stages: 3,
      clustering: { k: 10, nInit: 1, maxIter: 100, tol: 1e-5, algorithm: 'mini-batch' },
      evaluateStages: true,
      embedBatchSize: 256,
    });
    expect(runConfigSchema.parse({}).mcl).toBeUndefined();
  });

  it('rejects bad sections by field', () => {
    expectGenviewError(() => validateRunConfig({ mcl: { stages: 0 } }), /mcl\.stages/);
    expectGenviewError(() => validateRunConfig({ mcl: { stage: 2 } }), /mcl/);
    expectGenviewError(() => validateRunConfig({ mcl: { clustering: { k: 0 } } }), /mcl\.clustering\.k/);
    expectGenviewError(() => validateRunConfig({ mcl: { negatives: 'queue' } }), /mcl\.negatives/);
  });

  it('preflight: inner framework, stage count, steps per stage, negatives and fine-tuning', () => {
    const registry = createRegistry();
    const base = tinyConfig('/tmp/unused');
    const withMcl = (mcl: Record<string, unknown>, more: Record<string, unknown> = {}) => ({ ...base, ...more, mcl: { ...base.mcl!, ...mcl } }) as RunConfig;
    preflight(base, registry);
    expectGenviewError(() => preflight(withMcl({ stepsPerStage: [3, 3, 3] }), registry), /mcl\.stepsPerStage/);
    expectGenviewError(() => preflight(withMcl({ stages: 0 }), registry), /mcl\.stages/);
    expectGenviewError(() => preflight(withMcl({}, { framework: { name: 'mcl', inner: { name: 'simclrr' } } }), registry), /framework\.inner/);
    expectGenviewError(() => preflight(withMcl({}, { framework: { name: 'mcl', inner: 'mcl' } }), registry), /framework\.inner/);
    expectGenviewError(() => preflight(withMcl({}, { framework: { name: 'mcl', inner: { name: 'simclr', temprature: 1 } } }), registry), /framework\.inner/);
    expectGenviewError(() => preflight(withMcl({ negatives: 'mask' }, { framework: { name: 'mcl', negatives: 'sampler' } }), registry), /mcl\.negatives/);
    const finetune = runConfigSchema.parse({ eval: { finetune: {} } }).eval;
    expectGenviewError(() => preflight(withMcl({}, { eval: finetune }), registry), /eval\.finetune/);
    // The inner framework is checked even without an mcl section.
    expectGenviewError(() => preflight({ ...base, mcl: undefined, framework: { name: 'mcl', inner: 'nope' } } as RunConfig, registry), /framework\.inner/);
  });

  it('the deprecated mcl: section reads as the mcl framework reference, with a warning', () => {
    const legacy = tinyConfig('/tmp/unused', { mcl: { stages: 2, negatives: 'sampler', evaluateStages: false, clustering: { k: 3, algorithm: 'lloyd' } } });
    const { config, deprecations } = migrateRunConfig(legacy);
    expect(config.mcl).toBeUndefined();
    expect(config.eval.stages).toBe(false);
    expect(config.framework).toEqual({
      name: 'mcl',
      inner: legacy.framework,
      stages: 2,
      negatives: 'sampler',
      clustering: { k: 3, nInit: 1, maxIter: 100, tol: 1e-5, algorithm: 'lloyd' },
      embedBatchSize: 256,
    });
    expect(deprecations).toHaveLength(1);
    expect(deprecations[0]).toMatch(/mcl: section .* deprecated.*framework: \{ name: mcl, inner: simclr, stages: 2/);
    // Idempotent, and a config in the current form is left alone.
    expect(migrateRunConfig(config)).toEqual({ config, deprecations: [] });
    // An mcl reference keeps its own options; the section's must agree with them.
    expect((migrateRunConfig({ ...legacy, framework: { name: 'mcl', inner: 'byol' } }).config.framework as unknown as { inner: unknown }).inner).toBe('byol');
    expectGenviewError(() => migrateRunConfig({ ...legacy, framework: { name: 'mcl', stages: 4 } }), /mcl\.stages/);
    // The current form is checked by preflight too: a plan that does not add up names framework.*.
    const current = tinyConfig('/tmp/unused', { mcl: undefined, framework: { name: 'mcl', stages: 2, stepsPerStage: [3, 3, 3] } });
    expectGenviewError(() => preflight(current, createRegistry()), /framework\.stepsPerStage/);
  });

  it('splits the trainer budget evenly over the stages unless stepsPerStage is given', () => {
    const mcl = (more: Record<string, unknown>) => runConfigSchema.parse({ mcl: more }).mcl!;
    expect(mclStageSteps(mcl({ stages: 3 }), 600)).toEqual([200, 200, 200]);
    // Same total as a single-stage run: the first stages take the remainder.
    expect(mclStageSteps(mcl({ stages: 3 }), 10)).toEqual([4, 3, 3]);
    expect(mclStageSteps(mcl({ stages: 2, stepsPerStage: 7 }), 600)).toEqual([7, 7]);
    expect(mclStageSteps(mcl({ stages: 2, stepsPerStage: [5, 9] }), 600)).toEqual([5, 9]);
    expectGenviewError(() => mclStageSteps(mcl({ stages: 4 }), 3), /trainer\.steps/);
    expectGenviewError(() => mclStageSteps(mcl({ stages: 2, stepsPerStage: [5] }), 600, 'mcl'), /mcl\.stepsPerStage/);
    expectGenviewError(() => mclStageSteps({ stages: 2, stepsPerStage: [5] }, 600), /framework\.stepsPerStage/);
  });

  it("an mcl framework's random-encoder baseline is its inner backbone", () => {
    const config = runConfigSchema.parse({ framework: { name: 'mcl', inner: { name: 'simclr', backbone: { name: 'small-cnn', widths: [4, 8] } } } });
    expect(backboneRefOf(config)).toEqual({ name: 'small-cnn', widths: [4, 8] });
    expect(backboneRefOf(runConfigSchema.parse({ framework: 'mcl' }))).toBe('small-cnn');
  });

  it('every example config loads and passes preflight; the MCL example trains 3 stages of 200 steps', () => {
    const registry = createRegistry();
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));
    expect(files).toContain('mcl-colored-digits.yaml');
    for (const file of files) preflight(loadRunConfig({ path: join(EXAMPLES, file) }), registry);
    const config = loadRunConfig({ path: join(EXAMPLES, 'mcl-colored-digits.yaml') });
    const framework = config.framework as unknown as { name: string; stages: number };
    expect(framework).toMatchObject({ name: 'mcl', stages: 3, inner: { name: 'simclr' } });
    expect(mclStageSteps(framework, config.trainer.steps!)).toEqual([200, 200, 200]);
    expect(config.views.pipelines?.flat().map((r) => (typeof r === 'string' ? r : r.name))).toEqual(['random-resized-crop', 'random-resized-crop']);
  });
});

describe('genview train with an mcl section', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'genview-mcl-cli-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('trains the stages, evaluates the integrated encoder, each stage and the baselines, saves pseudo labels; eval, services, eval-sweep and report read the run', async () => {
    const outDir = join(root, 'run');
    const config = tinyConfig(outDir);
    const before = tf.memory().numTensors;
    const events = new EventBus();
    const warnings: string[] = [];
    events.on('log', ({ level, message }) => {
      if (level === 'warn') warnings.push(message);
    });
    const result = await trainFromConfig(config, { events });
    expect(tf.memory().numTensors).toBe(before);
    // This config still has the deprecated mcl: section: it trains as before and says how to move it.
    expect(warnings.filter((w) => /mcl: section .* deprecated/.test(w))).toHaveLength(1);

    expect(result.evaluations.map((e) => e.encoder)).toEqual(['mcl integrated (2 stages)', 'mcl stage 1', 'mcl stage 2', 'random encoder', 'raw pixels']);
    expect(result.totalSteps).toBe(6);
    expect(result.summary.steps).toBe(6);
    const results = readJson<ResultsFile>(join(outDir, 'results.json'));
    expect(results.evaluations.map((e) => e.encoder)).toEqual(result.evaluations.map((e) => e.encoder));
    for (const e of results.evaluations) expect(e.results[0].metrics['knn_top1@5']).toBeGreaterThanOrEqual(0);
    expect(results.stages).toMatchObject({ framework: 'mcl', count: 2, stepsPerStage: [3, 3], settings: { negatives: 'mask', clustering: { k: 3 } } });
    const [stage1, stage2] = results.stages.perStage;
    expect(stage1).toMatchObject({ stage: 1, dir: 'stage-1', steps: 3, startStep: 0, trainedWithPseudoLabels: null });
    expect(stage2.trainedWithPseudoLabels).toBe(stage1.kmeans!.pseudoLabels);
    expect(stage2.kmeans).toBeUndefined();
    expect(stage1.kmeans!.inertia).toBeGreaterThan(0);

    // The pseudo labels a user can inspect: stage 1's clusters over the 64 training images.
    expect(stage1.kmeans!.file).toBe(join('stage-1', 'pseudo-labels.json'));
    const labels = readJson<PseudoLabelFile>(join(outDir, stage1.kmeans!.file));
    expect(labels).toMatchObject({ stage: 1, k: 3, samples: 64, inertia: stage1.kmeans!.inertia, distinctPseudoLabels: stage1.kmeans!.pseudoLabels });
    expect(labels.clusters.every((c) => c >= 0 && c < 3)).toBe(true);
    // After one stage the joint labels are the clusters.
    expect(labels.pseudoLabels).toEqual(labels.clusters);
    expect(existsSync(join(outDir, 'stage-2', 'pseudo-labels.json'))).toBe(false);
    for (const s of ['stage-1', 'stage-2']) expect(existsSync(join(outDir, s, 'last.safetensors'))).toBe(true);

    // One log over the run: steps 1..6, stage 2 starting after stage 1's 3, and the k-means line.
    const lines = readFileSync(join(outDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
    expect(lines.filter((l) => l.split === undefined).map((l) => [l.step, l.stage, l.stageStep])).toEqual([
      [1, 1, 1],
      [2, 1, 2],
      [3, 1, 3],
      [4, 2, 1],
      [5, 2, 2],
      [6, 2, 3],
    ]);
    expect(lines.filter((l) => l.split === 'mcl')).toEqual([{ step: 3, split: 'mcl', stage: 1, inertia: stage1.kmeans!.inertia, pseudoLabels: stage1.kmeans!.pseudoLabels, iterations: expect.any(Number) }]);

    // `genview eval` rebuilds the integrated encoder from the stage checkpoints: the same numbers.
    const evaluated = await evaluateFromConfig(config, { events: new EventBus() });
    expect(evaluated.encoder).toBe('mcl integrated (2 stages)');
    expect(evaluated.results[0].metrics).toEqual(results.evaluations[0].results[0].metrics);
    // ... then every stage alone and the baselines (the untrained network with the run's seed, raw pixels), as training reported them.
    expect(evaluated.steps).toEqual([3, 3]);
    expect(evaluated.evaluations.map((e) => e.encoder)).toEqual(results.evaluations.map((e) => e.encoder));
    expect(evaluated.evaluations.map((e) => e.results[0].metrics)).toEqual(results.evaluations.map((e) => e.results[0].metrics));
    // ... and with the colour as the label, the feature the evaluators do not score by default.
    const byColor = (ref: RunConfig['data']['train']) => ({ ...(ref as { name: string }), labelBy: 'color' });
    const color = await evaluateFromConfig({ ...config, data: { train: byColor(config.data.train), test: byColor(config.data.test) } }, { events: new EventBus() });
    expect(color.results[0].metrics['knn_top1@5']).toBeGreaterThan(0);

    // checkpoint:<run> serves the integrated encoder (two stages of 8 features).
    const services = createRunnerServices({ config, imageShape: [8, 8, 3], registry: createRegistry(), events: new EventBus() });
    try {
      const encoder = await services.featureExtractor(`checkpoint:${outDir}`);
      expect(encoder.featureDim).toBe(16);
      const norms = tf.tidy(() => tf.norm(encoder.embed(tf.ones([2, 8, 8, 3])), 2, 1).arraySync() as number[]);
      for (const n of norms) expect(n).toBeCloseTo(1, 5);
    } finally {
      services.dispose();
    }

    // An eval-sweep job identifies the run by its last stage's checkpoint.
    const job = await runEvalJob({ runDir: outDir, evaluator: 'knn' }, { events: new EventBus() });
    expect(job).toMatchObject({ outcome: 'written', step: 3 });
    const file = readJson<{ encoder: string; checkpoint: { file: string; step: number }; result: { metrics: Record<string, number> } }>(job.file);
    expect(file.encoder).toBe('mcl integrated (2 stages)');
    expect(file.checkpoint).toMatchObject({ file: join('stage-2', 'last.safetensors'), step: 3 });
    expect(file.result.metrics).toEqual(results.evaluations[0].results[0].metrics);

    // One backbone cannot stand for the integration of two stages: export refuses, naming the run.
    await expect(exportRun({ runDir: outDir, format: 'safetensors' })).rejects.toThrow(/multi-stage mcl run/);

    // `genview report` reads the run: the integrated encoder is the trained one, the loss curve spans both stages.
    const collected = await collectRuns(parseReportSpec({ title: 'mcl', arms: [{ name: 'mcl', runs: [outDir] }] }), root);
    const run = collected.arms[0].runs[0];
    expect(run.encoder).toBe('mcl integrated (2 stages)');
    expect(run.loss.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('the CLI: genview train runs the stages from a config file, genview eval the integrated encoder; a bad mcl section exits 2 with its field', async () => {
    const file = join(root, 'cli.yaml');
    writeFileSync(file, JSON.stringify(tinyConfig(join(root, 'cli-run'), { eval: { evaluators: [{ name: 'knn', k: [5] }], baselines: false } })));
    const out = sink();
    expect(await main(['train', '--config', file, '--plain'], out, sink())).toBe(0);
    expect(out.text()).toMatch(/mcl integrated \(2 stages\)/);
    expect(out.text()).toMatch(/mcl: 2 stages of 3 \+ 3 steps in .*stage-1\.\.stage-2 .*stage 1: kmeans \{ k 3, inertia \d/);
    const evalOut = sink();
    const evalLog = sink();
    expect(await main(['eval', '--config', file, '--plain'], evalOut, evalLog)).toBe(0);
    expect(evalLog.text()).toMatch(/\[eval\] mcl integrated \(2 stages\) · knn/);
    expect(evalOut.text()).not.toMatch(/\[eval\]/);
    // The results table: the integrated encoder, then each stage (baselines are off in this config).
    const table = evalOut.text().slice(evalOut.text().indexOf('evaluated '));
    expect(table).toMatch(/checkpoint step 3, 3/);
    expect(table.split('\n').filter((l) => /^mcl (integrated|stage)/.test(l)).map((l) => l.split(/ {2,}/)[0])).toEqual(['mcl integrated (2 stages)', 'mcl stage 1', 'mcl stage 2']);
    // An mcl framework reference works as well as its inner framework; mcl.negatives picks upstream's one-label batches.
    const sampler = await trainFromConfig(
      tinyConfig(join(root, 'sampler'), {
        framework: { name: 'mcl', inner: tinyConfig(root).framework },
        mcl: { stages: 2, negatives: 'sampler', evaluateStages: false, clustering: { k: 2, algorithm: 'lloyd' } },
        eval: { evaluators: [{ name: 'knn', k: [5] }], baselines: true },
      }),
      { events: new EventBus() },
    );
    expect(sampler.stages?.settings.negatives).toBe('sampler');
    expect(sampler.evaluations.map((e) => e.encoder)).toEqual(['mcl integrated (2 stages)', 'random encoder', 'raw pixels']);
    // The random encoder is the inner framework's backbone (widths [4, 8]: 8 features), not the default small CNN.
    expect(sampler.evaluations[1].results[0].description).toMatch(/\(D=8\)/);
    const err = sink();
    expect(await main(['train', '--config', file, '--set', 'mcl.stepsPerStage=[2,2,2]', '--plain'], sink(), err)).toBe(2);
    expect(err.text()).toMatch(/mcl\.stepsPerStage.*Fix: give 2 step counts/s);
  }, 120_000);

  it('--resume after an interruption mid stage 2 ends where an uninterrupted run does', async () => {
    const settings = (dir: string) =>
      tinyConfig(dir, {
        trainer: { steps: 8, batchSize: 16, lr: 2e-3, scaleLr: false, logEvery: 1, checkpointEvery: 2 },
        eval: { evaluators: [{ name: 'knn', k: [5] }], baselines: false },
      });
    const straightDir = join(root, 'straight');
    const straight = await trainFromConfig(settings(straightDir), { events: new EventBus() });

    const resumedDir = join(root, 'resumed');
    const events = new EventBus();
    const stop = events.on('checkpoint', ({ step, path }) => {
      if (path.includes(`${join('resumed', 'stage-2')}`) && step === 2) throw new Error('interrupted');
    });
    const before = tf.memory().numTensors;
    await expect(trainFromConfig(settings(resumedDir), { events })).rejects.toThrow('interrupted');
    expect(tf.memory().numTensors).toBe(before);
    stop();
    expect(existsSync(join(resumedDir, 'results.json'))).toBe(false);
    const resumed = await trainFromConfig(settings(resumedDir), { events, resume: true });
    expect(tf.memory().numTensors).toBe(before);

    // Stage 1 was finished: loaded, not retrained. Stage 2 continued from its step-2 checkpoint.
    expect(resumed.stages!.perStage.map((s) => s.startStep)).toEqual([4, 2]);
    expect(resumed.summary).toMatchObject({ steps: 2, startStep: 6 });
    expect(straight.stages!.perStage.map((s) => s.startStep)).toEqual([0, 0]);

    const file = (dir: string) => readFileSync(join(dir, 'stage-1', 'pseudo-labels.json'), 'utf8');
    expect(file(resumedDir)).toBe(file(straightDir));
    const weights = (dir: string, stage: string) => decodeSafetensors(new Uint8Array(readFileSync(join(dir, stage, 'last.safetensors')))).tensors;
    for (const stage of ['stage-1', 'stage-2']) {
      const a = weights(straightDir, stage);
      const b = weights(resumedDir, stage);
      expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
      for (const key of Object.keys(a)) expect(Array.from(b[key].data), `${stage} ${key}`).toEqual(Array.from(a[key].data));
    }
    expect(resumed.evaluations.map((e) => e.encoder)).toEqual(['mcl integrated (2 stages)', 'mcl stage 1', 'mcl stage 2']);
    expect(resumed.evaluations.map((e) => e.results[0].metrics)).toEqual(straight.evaluations.map((e) => e.results[0].metrics));
    // A resumed run with no first-stage checkpoint has nothing to resume.
    await expect(trainFromConfig(settings(join(root, 'never-trained')), { events: new EventBus(), resume: true })).rejects.toThrow(/checkpoint/);
  }, 120_000);
});
