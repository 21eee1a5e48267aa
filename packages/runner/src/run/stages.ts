import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { GenviewError, writeFileAtomic } from '@genview/core';
import { rawPixelFeatures } from '@genview/eval';
import type { RunConfig } from '../config/schema';
import { type StagedFramework, stageDir, trainStages } from '../trainer/stages';
import type { TrainPhase, TrainSummary } from '../trainer/trainer';
import { learningRateFor } from './schedule';
import { type EncoderResults, type RunParts, type TrainRunOptions, type TrainRunResult, evaluateEncoder, generatedViewsOption, knnMonitor, randomEncoderResults, totalStepsOf } from './train-parts';

/** What results.json's `stages` section holds for a multi-stage run: how its stages were trained. */
export interface StagedRunSummary {
  /** The framework whose stages these are. */
  framework: string;
  count: number;
  stepsPerStage: number[];
  /** The framework's own settings of the staged run (FrameworkStages.settings), e.g. a clustering. */
  settings: Record<string, unknown>;
  perStage: StageSummary[];
}

export interface StageSummary {
  /** 1-based, as in the evaluation names and the stage directory. */
  stage: number;
  /** Relative to outDir: stage-<s>, holding last.safetensors and metrics.jsonl. */
  dir: string;
  steps: number;
  /** The step this process started the stage at (= steps when a resumed run found it finished). */
  startStep: number;
  finalLoss: number;
  seconds: number;
  /** What the framework reports of the stage (FrameworkStages.stageDetails and finishStage's details). */
  [detail: string]: unknown;
}

/** The name of a staged run's integrated encoder in results. */
export function integratedEncoderName(framework: string, stages: number): string {
  return `${framework} integrated (${stages} ${stages === 1 ? 'stage' : 'stages'})`;
}

/** The name of one stage's encoder in results (stage is 0-based). */
export function stageEncoderName(framework: string, stage: number): string {
  return `${framework} stage ${stage + 1}`;
}

/** eval.finetune cannot fine-tune an integration of several stages' backbones. */
export function refuseStagedFineTune(config: RunConfig, framework: string): void {
  if (!config.eval.finetune) return;
  throw new GenviewError('INVALID_CONFIG', `eval.finetune cannot fine-tune the integrated encoder of the multi-stage framework ${framework} (it joins every stage's backbone).`, {
    where: 'eval.finetune',
    fix: 'remove eval.finetune from the config; kNN and linear probes evaluate the integrated encoder and each stage.',
  });
}

/**
 * `genview train` for a framework with stages: trainStages over the run's data, views, optimizer and
 * schedule (each stage's warm-up and decay span that stage's own steps), then evaluates the integrated
 * encoder (the run's trained encoder, first in results.json), every stage's encoder (eval.stages) and the
 * usual baselines, and writes results.json and a metrics.jsonl that joins the stages' logs.
 */
export async function trainStagesAndEvaluate(config: RunConfig, options: TrainRunOptions, parts: RunParts & { framework: StagedFramework }): Promise<TrainRunResult> {
  const { registry, events, backend, fullTrain, train, test, views, generator, quality, framework } = parts;
  const name = framework.name;
  try {
    refuseStagedFineTune(config, name);
  } catch (error) {
    framework.dispose();
    throw error;
  }
  const totalSteps = totalStepsOf(config, train);
  events.log('train', `${name}: ${framework.stages.count} stages (batch ${config.trainer.batchSize}) on ${train.info.name} (${train.info.size} images), backend ${backend.chosen}`);
  const result = await trainStages({
    framework,
    data: train,
    views,
    totalSteps,
    batchSize: config.trainer.batchSize,
    optimizer: config.optimizer as never,
    learningRate: (step, stageSteps) => learningRateFor(config, stageSteps)(step),
    seed: config.seed,
    gradClipNorm: config.trainer.gradClipNorm,
    events,
    outDir: config.outDir,
    resume: options.resume === true,
    trainer: {
      checkpointEvery: config.trainer.checkpointEvery,
      logEvery: config.trainer.logEvery,
      tensorboard: config.trainer.tensorboard,
      backend: backend.chosen,
      configHash: parts.configHash,
      generated: generatedViewsOption(config, generator),
      quality,
      stop: options.stop,
    },
    monitor: (stage) => knnMonitor(config, parts, () => stage.encoder()),
  });
  try {
    const data = { train: fullTrain, test };
    const count = result.stages.length;
    const evaluations: EncoderResults[] = [await evaluateEncoder(integratedEncoderName(name, count), result.integrated, data, config, registry, events)];
    if (config.eval.stages !== false) {
      for (const stage of result.stages) evaluations.push(await evaluateEncoder(stageEncoderName(name, stage.info.index), stage.encoder, data, config, registry, events));
    }
    if (config.eval.baselines) {
      evaluations.push(await randomEncoderResults(config, parts, data, result.stages[0].encoder));
      evaluations.push(await evaluateEncoder('raw pixels', rawPixelFeatures(train), data, config, registry, events));
    }
    const perStage: StageSummary[] = result.stages.map((stage) => ({
      stage: stage.info.index + 1,
      dir: relative(config.outDir, stageDir(config.outDir, stage.info.index)) || '.',
      steps: stage.info.steps,
      startStep: stage.summary.startStep,
      finalLoss: stage.summary.finalLoss,
      seconds: stage.summary.seconds,
      ...stage.details,
    }));
    const stages: StagedRunSummary = { framework: name, count, stepsPerStage: result.stepsPerStage, settings: { ...framework.stages.settings }, perStage };
    await writeJoinedMetrics(config.outDir, name, perStage, result.stages.map((s) => s.metrics));
    const run: TrainRunResult = { backend, summary: joinSummaries(result.stages.map((s) => s.summary), config.trainer.batchSize), totalSteps, evaluations, outDir: config.outDir, stages };
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
 * `split: "<framework>"` line per finished stage that reported metrics.
 * Rewritten whole, atomically.
 */
async function writeJoinedMetrics(outDir: string, framework: string, stages: StageSummary[], metrics: (Record<string, number> | undefined)[]): Promise<void> {
  const lines: string[] = [];
  let offset = 0;
  for (const [i, stage] of stages.entries()) {
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
    const numbers = metrics[i];
    if (numbers) lines.push(JSON.stringify({ step: offset, split: framework, stage: stage.stage, ...numbers }));
  }
  await writeFileAtomic(join(outDir, 'metrics.jsonl'), lines.length > 0 ? `${lines.join('\n')}\n` : '');
}
