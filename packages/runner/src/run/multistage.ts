import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type EventBus, GenviewError, type PluginRef, type PluginServices, type Registry, writeFileAtomic } from '@genview/core';
import { rawPixelFeatures } from '@genview/eval';
import type { MclRunConfig, RunConfig } from '../config/schema';
import { type LoadedMultistage, type MultistageResult, PSEUDO_LABEL_FILE, loadMultistage, mclFrameworkRef, runMultistage, stageDir } from '../mcl/multistage';
import type { TrainPhase, TrainSummary } from '../trainer/trainer';
import { withInputShape } from './framework-ref';
import { learningRateFor } from './schedule';
import { type EncoderResults, type RunParts, type TrainRunOptions, type TrainRunResult, evaluateEncoder, generatedViewsOption, hashConfig, knnMonitor, randomEncoderResults, totalStepsOf } from './train-parts';

/** What results.json's `mcl` section holds: how the stages were trained and clustered. */
export interface MclRunSummary {
  stages: number;
  stepsPerStage: number[];
  negatives: 'mask' | 'sampler';
  clustering: MclRunConfig['clustering'];
  perStage: MclStageSummary[];
}

export interface MclStageSummary {
  /** 1-based, as in the evaluation names and the stage directory. */
  stage: number;
  /** Relative to outDir: stage-<s>, holding last.safetensors and metrics.jsonl. */
  dir: string;
  steps: number;
  /** The step this process started the stage at (= steps when a resumed run found it finished). */
  startStep: number;
  finalLoss: number;
  seconds: number;
  /** Distinct pseudo labels the stage's negatives were restricted to (null: the first stage, no labels). */
  trainedWithPseudoLabels: number | null;
  /** k-means of the stage's L2-normalised training-set features (absent for the last stage, which is not clustered). */
  kmeans?: { k: number; inertia: number; iterations: number; pseudoLabels: number; file: string };
}

/** The name of the run's trained encoder in results.json. */
export function integratedEncoderName(stages: number): string {
  return `mcl integrated (${stages} ${stages === 1 ? 'stage' : 'stages'})`;
}

/**
 * Steps of each stage: mcl.stepsPerStage (one number for all, or one per stage), else the run's total
 * budget split evenly, the first `total mod S` stages taking one step more, so the stages add up to
 * the budget a single-stage run with the same trainer section trains for.
 */
export function mclStageSteps(mcl: MclRunConfig, totalSteps: number): number[] {
  const { stages, stepsPerStage } = mcl;
  if (Array.isArray(stepsPerStage)) {
    if (stepsPerStage.length !== stages) {
      throw new GenviewError('INVALID_CONFIG', `mcl.stepsPerStage lists ${stepsPerStage.length} stages but mcl.stages is ${stages}.`, {
        where: 'mcl.stepsPerStage',
        fix: `give ${stages} step counts, one number for every stage, or leave it out to split the trainer's budget evenly.`,
      });
    }
    return [...stepsPerStage];
  }
  if (stepsPerStage !== undefined) return Array.from({ length: stages }, () => stepsPerStage);
  if (totalSteps < stages) {
    throw new GenviewError('INVALID_CONFIG', `the training budget of ${totalSteps} steps cannot be split over ${stages} MCL stages.`, {
      where: 'trainer.steps',
      fix: `train for at least ${stages} steps in all (trainer.steps or trainer.epochs), use fewer stages, or set mcl.stepsPerStage.`,
    });
  }
  const base = Math.floor(totalSteps / stages);
  return Array.from({ length: stages }, (_, s) => base + (s < totalSteps % stages ? 1 : 0));
}

/** The mcl framework reference a run trains: config.framework wrapped if needed, mcl.negatives applied. */
export function mclRunFrameworkRef(config: RunConfig, registry: Registry, frameworkRef: PluginRef, shape: [number, number, number]): PluginRef {
  return mclFrameworkRef(registry, frameworkRef, shape, config.mcl?.negatives);
}

/**
 * The stage models of a finished MCL run, rebuilt from the config it saved and its stage checkpoints:
 * what `genview eval` evaluates and what checkpoint:<run> serves as an encoder.
 */
export function loadMultistageRun(
  config: RunConfig,
  runDir: string,
  shape: [number, number, number],
  host: { registry: Registry; events: EventBus; services: PluginServices },
): Promise<LoadedMultistage> {
  const mcl = config.mcl;
  if (!mcl) throw new GenviewError('INTERNAL', `loadMultistageRun needs an MCL run; ${runDir} has no mcl section.`);
  const { registry } = host;
  return loadMultistage({
    runDir,
    framework: mclRunFrameworkRef(config, registry, withInputShape(registry, config.framework as PluginRef, shape), shape),
    stages: mcl.stages,
    imageShape: shape,
    seed: config.seed,
    ...host,
  });
}

/**
 * `genview train` with an `mcl` section: runMultistage over the run's data, views, framework, optimizer
 * and schedule (each stage's schedule spans its own steps), then evaluates the integrated encoder (the
 * run's trained encoder, first in results.json), every stage's encoder (mcl.evaluateStages) and the
 * usual baselines, and writes results.json and a metrics.jsonl that joins the stages' logs.
 */
export async function trainMultistageAndEvaluate(config: RunConfig, options: TrainRunOptions, parts: RunParts): Promise<TrainRunResult> {
  const mcl = config.mcl;
  if (!mcl) throw new GenviewError('INTERNAL', 'trainMultistageAndEvaluate needs config.mcl.');
  const { registry, events, backend, context, fullTrain, train, test, views, generator, quality } = parts;
  const shape = train.info.imageShape;
  const totalSteps = totalStepsOf(config, train);
  const stepsPerStage = mclStageSteps(mcl, totalSteps);
  if (mcl.stages > 1 && mcl.clustering.k > train.info.size) {
    throw new GenviewError('INVALID_CONFIG', `k-means with k = ${mcl.clustering.k} needs at least ${mcl.clustering.k} training images, the run trains on ${train.info.size}.`, {
      where: 'mcl.clustering.k',
      fix: `use k ≤ ${train.info.size}, or train on more images.`,
    });
  }
  const ref = mclRunFrameworkRef(config, registry, parts.frameworkRef, shape);
  const negatives = ((ref as { negatives?: 'mask' | 'sampler' }).negatives ?? 'mask') as 'mask' | 'sampler';
  // Each stage's schedule spans that stage's own steps.
  const learningRate = (step: number, stageSteps: number) => learningRateFor(config, stageSteps)(step);
  events.log(
    'train',
    `mcl: ${mcl.stages} stages of ${stepsPerStage.join(' + ')} steps (batch ${config.trainer.batchSize}) on ${train.info.name} (${train.info.size} images), negatives ${negatives}, backend ${backend.chosen}`,
  );
  const result: MultistageResult = await runMultistage({
    data: train,
    framework: ref,
    views,
    stages: mcl.stages,
    stepsPerStage,
    batchSize: config.trainer.batchSize,
    optimizer: config.optimizer as never,
    learningRate,
    seed: config.seed,
    clustering: mcl.clustering,
    gradClipNorm: config.trainer.gradClipNorm,
    embedBatchSize: mcl.embedBatchSize,
    registry,
    events,
    services: context.services,
    outDir: config.outDir,
    resume: options.resume === true,
    trainer: {
      checkpointEvery: config.trainer.checkpointEvery,
      logEvery: config.trainer.logEvery,
      backend: backend.chosen,
      configHash: hashConfig(config),
      generated: generatedViewsOption(config, generator),
      quality,
      stop: options.stop,
    },
    monitor: (framework) => knnMonitor(config, parts, () => framework.encoder()),
  });
  try {
    const data = { train: fullTrain, test };
    const evaluations: EncoderResults[] = [await evaluateEncoder(integratedEncoderName(mcl.stages), result.integrated, data, config, registry, events)];
    if (mcl.evaluateStages) {
      for (const stage of result.stages) evaluations.push(await evaluateEncoder(`mcl stage ${stage.stage + 1}`, stage.encoder, data, config, registry, events));
    }
    if (config.eval.baselines) {
      evaluations.push(await randomEncoderResults(config, parts, data, result.stages[0].encoder));
      evaluations.push(await evaluateEncoder('raw pixels', rawPixelFeatures(train), data, config, registry, events));
    }
    const perStage: MclStageSummary[] = result.stages.map((stage) => {
      const dir = relative(config.outDir, stageDir(config.outDir, stage.stage)) || '.';
      const summary: MclStageSummary = {
        stage: stage.stage + 1,
        dir,
        steps: stepsPerStage[stage.stage],
        startStep: stage.summary.startStep,
        finalLoss: stage.summary.finalLoss,
        seconds: stage.summary.seconds,
        trainedWithPseudoLabels: stage.trainedWith ? new Set(stage.trainedWith).size : null,
      };
      if (stage.clustering && stage.pseudoLabels) {
        summary.kmeans = {
          k: stage.clustering.k,
          inertia: stage.clustering.inertia,
          iterations: stage.clustering.iterations,
          pseudoLabels: new Set(stage.pseudoLabels).size,
          file: join(dir, PSEUDO_LABEL_FILE),
        };
      }
      return summary;
    });
    const mclSummary: MclRunSummary = { stages: mcl.stages, stepsPerStage, negatives, clustering: mcl.clustering, perStage };
    await writeJoinedMetrics(config.outDir, perStage);
    const run: TrainRunResult = { backend, summary: joinSummaries(result.stages.map((s) => s.summary), config.trainer.batchSize), totalSteps, evaluations, outDir: config.outDir, mcl: mclSummary };
    await writeFileAtomic(join(config.outDir, 'results.json'), `${JSON.stringify({ config, ...run }, null, 2)}\n`);
    return run;
  } finally {
    result.dispose();
  }
}

/** One summary over the stages, in run-wide steps: what a single-stage run's summary says. */
function joinSummaries(summaries: TrainSummary[], batchSize: number): TrainSummary {
  const steps = summaries.reduce((n, s) => n + s.steps, 0);
  const seconds = summaries.reduce((n, s) => n + s.seconds, 0);
  return {
    steps,
    // Stages before the one a resume started in count as done, so their startStep is their length.
    startStep: summaries.reduce((n, s) => n + s.startStep, 0),
    finalLoss: summaries[summaries.length - 1].finalLoss,
    imagesPerSecond: seconds > 0 ? (steps * batchSize) / seconds : 0,
    seconds,
    cpuUserSeconds: summaries.reduce((n, s) => n + s.cpuUserSeconds, 0),
    cpuSystemSeconds: summaries.reduce((n, s) => n + s.cpuSystemSeconds, 0),
    phaseSeconds: Object.fromEntries(
      Object.keys(summaries[0].phaseSeconds).map((phase) => [phase, summaries.reduce((n, s) => n + s.phaseSeconds[phase as TrainPhase], 0)]),
    ) as Record<TrainPhase, number>,
  };
}

/**
 * <outDir>/metrics.jsonl for `genview report`: every stage's log with steps counted run-wide (stage s
 * starts where stage s - 1 ended; `stage` and `stageStep` keep the stage's own numbering), and one
 * `split: "mcl"` line per clustered stage with its k-means inertia. Rewritten whole, atomically.
 */
async function writeJoinedMetrics(outDir: string, stages: MclStageSummary[]): Promise<void> {
  const lines: string[] = [];
  let offset = 0;
  for (const stage of stages) {
    const path = join(outDir, stage.dir, 'metrics.jsonl');
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // a line cut short by a crash; the stage's own log keeps it
      }
      if (typeof record.step !== 'number') continue;
      lines.push(JSON.stringify({ ...record, step: offset + record.step, stage: stage.stage, stageStep: record.step }));
    }
    offset += stage.steps;
    if (stage.kmeans) {
      lines.push(JSON.stringify({ step: offset, split: 'mcl', stage: stage.stage, inertia: stage.kmeans.inertia, pseudoLabels: stage.kmeans.pseudoLabels, iterations: stage.kmeans.iterations }));
    }
  }
  await writeFileAtomic(join(outDir, 'metrics.jsonl'), lines.length > 0 ? `${lines.join('\n')}\n` : '');
}
