import type { EventBus } from '../events';
import type { Dataset, DatasetInfo, FeatureExtractor, Framework } from './contracts';

/**
 * Multi-stage training as a lifecycle a framework may implement (MCL is one: a fresh model per stage,
 * negatives restricted by pseudo labels from the earlier stages, every stage's features integrated).
 * A framework that trains in one stage implements none of this and leaves `Framework.stages` out.
 *
 * The host (the runner's `genview train`, or a user's own loop) drives it like this:
 * 1. It creates the framework from its reference as usual. That instance trains the first stage.
 * 2. `stepsPerStage(budget)` cuts the run's step budget into stages (the stage boundaries).
 * 3. For each stage: the host trains the stage's framework for its steps (its own learning-rate schedule,
 *    checkpoints in the stage's directory); `stageDetails` describes it for the run's results.
 * 4. After every stage but the last, `finishStage` computes what carries into the next stage (pseudo
 *    labels, statistics...) from the trained stage; `nextStage` then builds the next stage's framework
 *    from that carried state and the finished stages (whose frozen frameworks it may reuse).
 * 5. `integrate` combines the finished stages' encoders into the one evaluation sees.
 *
 * What a stage's checkpoint holds: the stage framework's `stateModules()`, as for any framework, in the
 * stage's own directory. Carried state is not checkpointed by the host: on resume, a finished stage is
 * loaded (not retrained) and `finishStage` runs again on its loaded weights, so it must be a pure function
 * of (stage weights, data, seed). It may write files for inspection into `StageInfo.dir`. A host that
 * rebuilds a finished run for evaluation calls `nextStage` with `carried` undefined and then loads each
 * stage's checkpoint, so a stage's variables (names and shapes) must not depend on the carried state.
 */
export interface FrameworkStages<Carry = unknown> {
  /** Number of stages the framework is configured for (the first included). */
  readonly count: number;
  /**
   * Steps of each stage, given the run's whole budget: `count` positive integers. A framework that
   * splits the budget keeps multi-stage and single-stage runs of one trainer section comparable. Called
   * before anything trains, so it is also where data the stages cannot use is refused (a GenviewError).
   */
  stepsPerStage(totalSteps: number, data: DatasetInfo): number[];
  /** Builds stage `stage.index` (1 or more): called once per stage, after the previous stage finished. */
  nextStage(stage: StageInfo, finished: readonly FinishedStage[], carried: Carry | undefined): Promise<Framework>;
  /**
   * Which samples each step of a stage reads, when the stage needs its own order (MCL's one-pseudo-label
   * batches); undefined keeps the host's seeded shuffle. A pure function of (seed, step), for exact resumes.
   */
  batchOrder?(stage: StageInfo, carried: Carry | undefined, batchSize: number): StageBatchOrder | undefined;
  /**
   * After stage `stage.info.index` is trained (never after the last stage): what the next stage starts
   * from. `carried` is what the finished stage itself was trained with.
   */
  finishStage?(stage: FinishedStage, run: StageRun, carried: Carry | undefined): Promise<StageOutcome<Carry>>;
  /** JSON-ready facts about a stage before it trains (e.g. how many pseudo labels it is restricted to), for the run's results. */
  stageDetails?(stage: StageInfo, carried: Carry | undefined): Record<string, unknown>;
  /** JSON-ready settings of the whole staged run, for the run's results (e.g. the clustering). */
  readonly settings?: Record<string, unknown>;
  /**
   * The encoder evaluation sees, from every stage's frozen encoder (first stage first). Default: the
   * last stage's. The result must stay valid as long as the stage encoders do.
   */
  integrate?(encoders: readonly FeatureExtractor[]): FeatureExtractor;
}

/** One stage, as the host describes it to the hooks. */
export interface StageInfo {
  /** 0-based; logs, result names and directories count from 1. */
  readonly index: number;
  /** Stages in the run. */
  readonly count: number;
  /** Steps this stage trains for (0 when a finished run is rebuilt for evaluation). */
  readonly steps: number;
  /** The run's seed: hooks derive their randomness from it (e.g. new Rng(seed).fork(`kmeans-stage-${index}`)). */
  readonly seed: number;
  /**
   * The stage's directory, <outDir>/stage-<index + 1> (checkpoints, metrics, files the hooks write),
   * when the run writes any.
   */
  readonly dir?: string;
}

/** A trained stage: its framework is frozen from here on and owned by the host, which disposes it. */
export interface FinishedStage {
  readonly info: StageInfo;
  readonly framework: Framework;
}

/** What the host hands finishStage besides the stage. */
export interface StageRun {
  /** The training set the stage was trained on, in the order its indices refer to. */
  readonly data: Dataset;
  readonly events: EventBus;
}

export interface StageOutcome<Carry> {
  /** Handed to nextStage, batchOrder and stageDetails of the next stage. */
  carry: Carry;
  /** JSON-ready facts about what the stage produced, for the run's results. */
  details?: Record<string, unknown>;
  /** Numbers for the run's metrics log, on one line at the stage's last step. */
  metrics?: Record<string, number>;
}

/** Which dataset indices each step reads (the same shape as the runner's batch schedules). */
export interface StageBatchOrder {
  readonly stepsPerEpoch: number;
  indices(step: number): Int32Array;
}

