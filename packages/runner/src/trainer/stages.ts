import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Augmentation,
  type Dataset,
  EventBus,
  type FeatureExtractor,
  type FinishedStage,
  type Framework,
  type FrameworkStages,
  GenviewError,
  type StageInfo,
  writeFileAtomic,
} from '@genview/core';
import type { OptimizerConfigInput } from '../optim';
import { LAST_CHECKPOINT, loadModelState } from './checkpoint';
import { namespacedVariables } from './named-variables';
import { type TrainSummary, Trainer, type TrainerOptions, TrainingInterrupted } from './trainer';

/**
 * The host side of the multi-stage lifecycle (FrameworkStages in @genview/core): trains a framework's
 * stages one after another with the Trainer, each in its own directory, and rebuilds a finished run's
 * stages for evaluation. Nothing here knows any particular multi-stage method.
 */

/** A framework that implements the multi-stage lifecycle. */
export type StagedFramework = Framework & { readonly stages: FrameworkStages };

export function isStagedFramework(framework: Framework): framework is StagedFramework {
  return framework.stages !== undefined;
}

/** The directory of stage `stage` (0-based) of a run in outDir: <outDir>/stage-<stage + 1>. */
export function stageDir(outDir: string, stage: number): string {
  return join(outDir, `stage-${stage + 1}`);
}

/** <outDir>/stages.json: the run's stage layout, written before the first stage trains. */
export const STAGES_FILE = 'stages.json';

export interface StagesManifest {
  /** The framework whose stages these are. */
  framework: string;
  count: number;
  stepsPerStage: number[];
  /** Relative to outDir, first stage first. */
  dirs: string[];
}

/**
 * The checkpoint that stands for a staged run's trained encoder, relative to runDir: the last stage's,
 * written only after every earlier stage finished. Undefined for a single-stage run. Runs from before
 * stages.json existed are recognised by their stage-<s> directories.
 */
export function lastStageCheckpoint(runDir: string): string | undefined {
  const manifest = join(runDir, STAGES_FILE);
  if (existsSync(manifest)) {
    try {
      const { dirs } = JSON.parse(readFileSync(manifest, 'utf8')) as StagesManifest;
      if (Array.isArray(dirs) && dirs.length > 0) return join(dirs[dirs.length - 1], LAST_CHECKPOINT);
    } catch {
      // unreadable: fall through to the directories
    }
  }
  if (existsSync(join(runDir, LAST_CHECKPOINT)) || !existsSync(runDir)) return undefined;
  const stages = readdirSync(runDir).filter((name) => /^stage-\d+$/.test(name)).length;
  return stages > 0 ? join(`stage-${stages}`, LAST_CHECKPOINT) : undefined;
}

export interface StagedTrainingOptions {
  /** The framework as created from its reference: it trains the first stage. Owned from here on. */
  framework: StagedFramework;
  /** The training set: every stage trains on it and finishStage reads it. */
  data: Dataset;
  views: Augmentation[];
  /** The run's whole step budget, cut into stages by the framework. */
  totalSteps: number;
  batchSize: number;
  optimizer: OptimizerConfigInput;
  /** Learning rate at a step of a stage with `stageSteps` steps: each stage runs its own schedule. */
  learningRate: (step: number, stageSteps: number) => number;
  seed: number;
  gradClipNorm?: number;
  events?: EventBus;
  /** Stage s checkpoints and logs to <outDir>/stage-<s> (stageDir); the layout goes to <outDir>/stages.json. */
  outDir?: string;
  /**
   * Continue an interrupted run in outDir: a stage whose checkpoint is at its last step is loaded, not
   * trained again; one stopped mid-stage continues from its checkpoint exactly; one without a checkpoint
   * trains from the start (the first stage must have one). finishStage runs again on the loaded weights.
   */
  resume?: boolean;
  /** Trainer settings shared by every stage. */
  trainer?: Pick<TrainerOptions, 'checkpointEvery' | 'logEvery' | 'backend' | 'configHash' | 'generated' | 'quality' | 'stop' | 'tensorboard'>;
  /** A monitoring evaluation for each stage's trainer, built for that stage's framework. */
  monitor?: (framework: Framework) => TrainerOptions['monitor'];
  /** Called after each stage is trained and finished (e.g. to evaluate it). */
  onStage?: (stage: TrainedStage) => Promise<void> | void;
}

export interface TrainedStage extends FinishedStage {
  /** The stage's frozen encoder (valid until the result is disposed). */
  encoder: FeatureExtractor;
  summary: TrainSummary;
  /** What the stage was trained with (undefined for the first stage). */
  carriedIn?: unknown;
  /** What finishStage returned for the next stage (undefined for the last stage). */
  carriedOut?: unknown;
  /** stageDetails and finishStage's details, merged. */
  details: Record<string, unknown>;
  /** finishStage's metrics, if any. */
  metrics?: Record<string, number>;
}

export interface StagedTrainingResult {
  stages: TrainedStage[];
  stepsPerStage: number[];
  /** The framework's integration of every stage's encoder: what evaluation sees. */
  integrated: FeatureExtractor;
  /** Disposes every stage's framework (their encoders stop working). */
  dispose(): void;
}

/** Trains every stage of a staged framework (see StagedTrainingOptions). */
export async function trainStages(options: StagedTrainingOptions): Promise<StagedTrainingResult> {
  const { framework: first, data, batchSize, seed, outDir } = options;
  const lifecycle = first.stages;
  const events = options.events ?? new EventBus();
  const done: TrainedStage[] = [];
  const owned: Framework[] = [first];
  try {
    const steps = checkedSteps(first, lifecycle.stepsPerStage(options.totalSteps, data.info));
    if (options.resume && !outDir) {
      throw new GenviewError('INVALID_CONFIG', 'resuming a multi-stage run needs the outDir it wrote its stages to.', { where: 'outDir', fix: 'pass outDir.' });
    }
    if (outDir) await writeManifest(outDir, first.name, steps);
    let carried: unknown;
    for (let index = 0; index < steps.length; index++) {
      const info: StageInfo = { index, count: steps.length, steps: steps[index], seed, ...(outDir ? { dir: stageDir(outDir, index) } : {}) };
      let framework: Framework = first;
      if (index > 0) {
        framework = await lifecycle.nextStage(info, done, carried);
        owned.push(framework);
      }
      const details: Record<string, unknown> = { ...lifecycle.stageDetails?.(info, carried) };
      const trainer = new Trainer({
        ...options.trainer,
        framework,
        data,
        views: options.views,
        optimizer: options.optimizer,
        learningRate: (step) => options.learningRate(step, info.steps),
        totalSteps: info.steps,
        batchSize,
        seed,
        order: lifecycle.batchOrder?.(info, carried, batchSize),
        gradClipNorm: options.gradClipNorm,
        events,
        monitor: options.monitor?.(framework),
        outDir: info.dir,
      });
      let summary: TrainSummary;
      try {
        // A stage that never wrote a checkpoint starts over, which is exact (everything derives from seed
        // and step); the first stage must have one, as a single-stage resume must.
        if (options.resume && (index === 0 || trainer.canResume())) trainer.resume();
        events.log('stages', `${first.name} stage ${index + 1}/${steps.length}: ${info.steps} steps`);
        summary = await trainer.run();
      } finally {
        trainer.dispose();
      }
      // Stopped on request (TrainerOptions.stop): the stage's checkpoint continues it with --resume.
      if (summary.interrupted) throw new TrainingInterrupted(summary.interrupted.atStep, info.steps, info.dir, index + 1);
      const stage: TrainedStage = { info, framework, encoder: framework.encoder(), summary, carriedIn: carried, details };
      done.push(stage);
      if (index < steps.length - 1) {
        if (!lifecycle.finishStage) {
          carried = undefined;
        } else {
          const outcome = await lifecycle.finishStage(stage, { data, events }, carried);
          carried = outcome.carry;
          stage.carriedOut = outcome.carry;
          Object.assign(details, outcome.details);
          if (outcome.metrics) stage.metrics = outcome.metrics;
        }
      }
      await options.onStage?.(stage);
    }
    const encoders = done.map((s) => s.encoder);
    return {
      stages: done,
      stepsPerStage: steps,
      integrated: lifecycle.integrate ? lifecycle.integrate(encoders) : encoders[encoders.length - 1],
      dispose: () => disposeAll(owned),
    };
  } catch (error) {
    disposeAll(owned);
    throw error;
  }
}

export interface LoadedStages {
  frameworks: Framework[];
  /** Every stage's encoder, first stage first. */
  encoders: FeatureExtractor[];
  integrated: FeatureExtractor;
  /** The step each stage's checkpoint was written at. */
  steps: number[];
  dispose(): void;
}

/**
 * A finished staged run's stages, rebuilt for evaluation: the given framework (fresh, as created from
 * the run's reference) is the first stage, nextStage builds the rest with no carried state, and each
 * loads the model variables of <runDir>/stage-<s>/last.safetensors. Every stage must have a checkpoint.
 * The framework is owned from here on.
 */
export async function loadStages(framework: StagedFramework, runDir: string, seed: number): Promise<LoadedStages> {
  const lifecycle = framework.stages;
  const count = lifecycle.count;
  const frameworks: Framework[] = [framework];
  const finished: FinishedStage[] = [];
  const steps: number[] = [];
  try {
    for (let index = 0; index < count; index++) {
      const dir = stageDir(runDir, index);
      // Steps are unknown here (they depend on the data); nothing that builds a stage may depend on them.
      const info: StageInfo = { index, count, steps: 0, seed, dir };
      let stage: Framework = framework;
      if (index > 0) {
        stage = await lifecycle.nextStage(info, finished, undefined);
        frameworks.push(stage);
      }
      try {
        steps.push(loadModelState(dir, namespacedVariables(stage.stateModules())).step);
      } catch (error) {
        throw new GenviewError('CHECKPOINT', `stage ${index + 1} of ${count} of the ${framework.name} run ${runDir} has no usable checkpoint in ${dir}: ${(error as Error).message}`, {
          where: dir,
          fix: 'finish training with `genview train --resume` (same config), or evaluate a run whose stages all finished.',
          cause: error,
        });
      }
      finished.push({ info, framework: stage });
    }
  } catch (error) {
    disposeAll(frameworks);
    throw error;
  }
  const encoders = frameworks.map((f) => f.encoder());
  return {
    frameworks,
    encoders,
    integrated: lifecycle.integrate ? lifecycle.integrate(encoders) : encoders[encoders.length - 1],
    steps,
    dispose: () => disposeAll(frameworks),
  };
}

function checkedSteps(framework: Framework, steps: number[]): number[] {
  const count = framework.stages!.count;
  if (steps.length !== count || steps.some((s) => !(Number.isInteger(s) && s >= 1))) {
    throw new GenviewError('INVALID_CONFIG', `framework ${framework.name} planned ${JSON.stringify(steps)} steps for its ${count} stages.`, {
      where: 'framework',
      fix: `its stepsPerStage() must return ${count} positive whole numbers (a bug in the framework plugin).`,
    });
  }
  return steps;
}

async function writeManifest(outDir: string, framework: string, stepsPerStage: number[]): Promise<void> {
  const manifest: StagesManifest = { framework, count: stepsPerStage.length, stepsPerStage, dirs: stepsPerStage.map((_, s) => `stage-${s + 1}`) };
  mkdirSync(outDir, { recursive: true });
  await writeFileAtomic(join(outDir, STAGES_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

function disposeAll(frameworks: Framework[]): void {
  for (const f of frameworks.splice(0)) f.dispose();
}
