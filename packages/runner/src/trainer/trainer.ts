import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Augmentation,
  type Dataset,
  EventBus,
  type Framework,
  type GeneratedView,
  type GenerationRequest,
  type Generator,
  GenviewError,
  type ModuleVariable,
  type QualityScorer,
  Rng,
  type Tensor1D,
  type Tensor3D,
  type Tensor4D,
  removeStaleTemporaries,
  tf,
} from '@genview/core';
import { type Optimizer, type OptimizerConfigInput, clipGradNorm, createOptimizer } from '../optim';
import { type CheckpointMeta, checkpointExists, loadCheckpoint, saveCheckpoint } from './checkpoint';
import { BatchOrder, type BatchSchedule } from './data-order';
import { JsonlLog } from './metrics-log';
import { TensorboardWriter } from './tensorboard/event-writer';
import { namespacedVariables } from './named-variables';

export interface TrainerOptions {
  framework: Framework;
  data: Dataset;
  /** One augmentation pipeline per view. */
  views: Augmentation[];
  optimizer: OptimizerConfigInput;
  /** Learning rate at each step (warm-up and decay included). */
  learningRate: (step: number) => number;
  totalSteps: number;
  batchSize: number;
  seed: number;
  /** Checkpoints and metrics.jsonl go here; without it nothing is written. */
  outDir?: string;
  checkpointEvery?: number;
  logEvery?: number;
  gradClipNorm?: number;
  /**
   * GenView's generated views: with `probability` per pair, one view (chosen at random) starts from a
   * generated image of the sample instead of the sample. The trainer does not own the generator.
   */
  generated?: GeneratedViewsOptions;
  /** Weights each positive pair (GenView's quality-driven loss); none = equal weights. */
  quality?: QualityScorer;
  events?: EventBus;
  /** Recorded in checkpoints so a resume on another backend can be flagged. */
  backend?: string;
  configHash?: string;
  /** Which samples each step reads; default: seeded shuffled epochs (BatchOrder). MCL's sampler plugs in here. */
  order?: BatchSchedule;
  /** A monitoring evaluation every `every` steps (e.g. a small kNN). */
  monitor?: { every: number; run: (step: number) => Promise<Record<string, number>> };
  /**
   * Once aborted (Ctrl-C in `genview train`), run() finishes the step under way, writes a checkpoint
   * (with outDir) and returns with `interrupted` set, so `resume` continues exactly from there.
   */
  stop?: AbortSignal;
  /** Also write TensorBoard event files (the metrics.jsonl scalars, quality-weight statistics) in outDir. Default true. */
  tensorboard?: boolean;
}

export interface GeneratedViewsOptions {
  generator: Generator;
  /** Fraction of pairs in [0, 1] in which one view is generated. */
  probability: number;
  /**
   * The views a generated image may replace (default: every view). CLIP reads only view 0, so its
   * generated image must go there; SLIP's image-SSL term reads views 1 and 2.
   */
  views?: readonly number[];
}

/** Which view of each row starts from a generated image (-1: none), and the seed its request carries. */
export interface GeneratedViewPlan {
  view: Int32Array;
  seeds: Int32Array;
}

export interface TrainSummary {
  steps: number;
  startStep: number;
  finalLoss: number;
  imagesPerSecond: number;
  seconds: number;
  /** CPU time of the whole process (every thread) during the loop; system time high against user time means allocation or page-fault churn. */
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  /** Where the loop's wall time went, in seconds summed over the run's steps (see TrainPhase). */
  phaseSeconds: Record<TrainPhase, number>;
  /** Set when options.stop ended the run early: the step it stopped after (its checkpoint's step). */
  interrupted?: { atStep: number };
}

/**
 * What trainFromConfig (and a multi-stage run) rejects with when TrainerOptions.stop ended training early:
 * the checkpoint of `atStep` is written, so `genview train --resume` continues from there. Not a
 * GenviewError: nothing was wrong, the caller asked to stop.
 */
export class TrainingInterrupted extends Error {
  constructor(
    readonly atStep: number,
    readonly totalSteps: number,
    /** Where the checkpoint went; undefined without outDir. */
    readonly outDir: string | undefined,
    /** For a multi-stage run: the 1-based stage that was stopped. */
    readonly stage?: number,
  ) {
    super(`training stopped after step ${atStep} of ${totalSteps}${stage === undefined ? '' : ` of stage ${stage}`}${outDir ? `; the checkpoint in ${outDir} continues it with --resume` : ''}.`);
    this.name = 'TrainingInterrupted';
  }
}

/** The per-step logs in outDir; a run truncates them to the step it starts at, so every step appears once. */
export const METRICS_FILE = 'metrics.jsonl';
export const QUALITY_WEIGHTS_FILE = 'quality-weights.jsonl';

/** Temporaries of writers on other hosts may be live for this long (see core's removeStaleTemporaries). */
const TEMP_GRACE_MS = 10 * 60 * 1000;

/**
 * The parts of a step: reading the batch, making the views (generated images included), the quality
 * weights, the loss with its gradients (forward and backward in one tape), clipping and the optimizer
 * update, the framework's after-step (EMA, queues), the loss read-back, then checkpoints and
 * monitoring evaluations between steps.
 */
export type TrainPhase = 'data' | 'views' | 'quality' | 'lossAndGradients' | 'optimizer' | 'afterStep' | 'readBack' | 'checkpoint' | 'monitor';

const TRAIN_PHASES: readonly TrainPhase[] = ['data', 'views', 'quality', 'lossAndGradients', 'optimizer', 'afterStep', 'readBack', 'checkpoint', 'monitor'];

/** Adds the time since the previous mark to a phase. */
class PhaseClock {
  readonly seconds = Object.fromEntries(TRAIN_PHASES.map((p) => [p, 0])) as Record<TrainPhase, number>;
  private last = performance.now();

  start(): void {
    this.last = performance.now();
  }

  mark(phase: TrainPhase): void {
    const now = performance.now();
    this.seconds[phase] += (now - this.last) / 1000;
    this.last = now;
  }
}

/**
 * Runs the loop every framework shares: batch order → views → (quality weights) → loss and gradients
 * → clipping → optimizer → framework state updates → metrics and checkpoints. Everything random is
 * derived from (seed, step), so `resume` continues exactly where an interrupted run stopped.
 */
export class Trainer {
  readonly events: EventBus;
  private readonly order: BatchSchedule;
  private readonly trainable: ModuleVariable[];
  private readonly state: ModuleVariable[];
  private readonly optimizer: Optimizer;
  private readonly log?: JsonlLog;
  /** The pair weights of every logged step, for the report's quality-weight histogram. */
  private readonly qualityLog?: JsonlLog;
  private tensorboard?: TensorboardWriter;
  private readonly augmentRoot: Rng;
  private readonly generatedRoot: Rng;
  private startStep = 0;
  private readonly clock = new PhaseClock();

  constructor(private readonly options: TrainerOptions) {
    if (options.views.length < 2) {
      throw new GenviewError('INVALID_CONFIG', `a contrastive framework needs at least 2 views, got ${options.views.length}.`, {
        where: 'views',
        fix: 'give views.preset or two pipelines in views.pipelines.',
      });
    }
    const probability = options.generated?.probability;
    if (probability !== undefined && !(probability >= 0 && probability <= 1)) {
      throw new GenviewError('INVALID_CONFIG', `the generated-view probability must lie in [0, 1], got ${probability}.`, {
        where: 'views.generated.probability',
        fix: 'use 1 for a generated view in every pair (GenView), 0 to turn them off.',
      });
    }
    const replaceable = options.generated?.views;
    if (replaceable && (replaceable.length === 0 || replaceable.some((v) => !(Number.isInteger(v) && v >= 0 && v < options.views.length)))) {
      throw new GenviewError('INVALID_CONFIG', `views.generated.views must list view indices in [0, ${options.views.length - 1}], got ${JSON.stringify(replaceable)}.`, {
        where: 'views.generated.views',
        fix: `name views the framework reads, e.g. [0] for clip; there are ${options.views.length} views.`,
      });
    }
    this.events = options.events ?? new EventBus();
    this.order = options.order ?? new BatchOrder(options.seed, options.data.info.size, options.batchSize);
    this.trainable = namespacedVariables(options.framework.trainableModules()).filter((v) => v.trainable);
    this.state = namespacedVariables(options.framework.stateModules());
    this.optimizer = createOptimizer(options.optimizer, this.trainable);
    this.augmentRoot = new Rng(options.seed).fork('augment');
    // A stream of its own, so turning generated views on or off leaves the augmentations unchanged.
    this.generatedRoot = new Rng(options.seed).fork('generated');
    if (options.outDir) {
      mkdirSync(options.outDir, { recursive: true });
      this.log = new JsonlLog(join(options.outDir, METRICS_FILE));
      if (options.quality) this.qualityLog = new JsonlLog(join(options.outDir, QUALITY_WEIGHTS_FILE));
    }
  }

  get stepsPerEpoch(): number {
    return this.order.stepsPerEpoch;
  }

  /** Loads the last checkpoint in outDir; the next run() continues from its step. */
  resume(): CheckpointMeta {
    const dir = this.requireOutDir('resume');
    const meta = loadCheckpoint(dir, this.state, this.optimizer);
    if (meta.seed !== this.options.seed) {
      throw new GenviewError('CHECKPOINT', `the checkpoint was made with seed ${meta.seed}, this run uses ${this.options.seed}.`, {
        fix: 'resume with the seed of the original run.',
      });
    }
    if (this.options.configHash && meta.configHash && meta.configHash !== this.options.configHash) {
      this.events.log('trainer', 'the config differs from the checkpoint\'s; resuming anyway', 'warn');
    }
    this.startStep = meta.step;
    this.events.log('trainer', `resumed at step ${meta.step} from ${dir}`);
    return meta;
  }

  /**
   * Before the first step: clears temporaries a killed run left in outDir, and cuts the per-step logs
   * back to the step this run starts at (the checkpoint's, or 0), since the steps after it run again.
   */
  private async prepareOutDir(): Promise<void> {
    const dir = this.options.outDir;
    if (!dir) return;
    const removed = await removeStaleTemporaries(dir, TEMP_GRACE_MS);
    if (removed.length > 0) this.events.log('trainer', `removed ${removed.length} temporary file(s) an interrupted run left in ${dir}`);
    for (const name of [METRICS_FILE, QUALITY_WEIGHTS_FILE]) {
      const dropped = await new JsonlLog(join(dir, name)).truncateAfter(this.startStep);
      if (dropped > 0) this.events.log('trainer', `${name}: dropped ${dropped} record(s) after step ${this.startStep}; those steps are logged again`);
    }
  }

  canResume(): boolean {
    return this.options.outDir !== undefined && checkpointExists(this.options.outDir);
  }

  /** Trains from the current step to totalSteps. */
  async run(): Promise<TrainSummary> {
    const { totalSteps, batchSize, logEvery = 10, checkpointEvery = 0 } = this.options;
    await this.prepareOutDir();
    if (this.options.outDir && (this.options.tensorboard ?? true) && !this.tensorboard) {
      this.tensorboard = new TensorboardWriter(this.options.outDir, this.startStep);
    }
    const started = performance.now();
    const cpuStart = process.cpuUsage();
    let finalLoss = Number.NaN;
    let interrupted: TrainSummary['interrupted'];
    let windowStart = performance.now();
    let windowImages = 0;
    let imagesPerSecond = 0;
    for (let step = this.startStep; step < totalSteps; step++) {
      const isLast = step === totalSteps - 1;
      const logged = (step + 1) % logEvery === 0 || isLast;
      const { loss, gradNorm, weights } = await this.step(step, logged);
      finalLoss = loss;
      windowImages += batchSize;
      if (weights) {
        this.qualityLog?.write({ step: step + 1, weights: Array.from(weights, (w) => Number(w.toPrecision(5))) });
        this.tensorboard?.scalars(step + 1, weightStatistics(weights));
      }
      if (logged) {
        const seconds = (performance.now() - windowStart) / 1000;
        imagesPerSecond = windowImages / seconds;
        const values: Record<string, number> = {
          loss,
          lr: this.options.learningRate(step),
          imagesPerSecond,
          ...(gradNorm === undefined ? {} : { gradNorm }),
        };
        this.record(step + 1, values);
        windowStart = performance.now();
        windowImages = 0;
      }
      this.events.emit('progress', { task: 'train', done: step + 1, total: totalSteps, unit: 'step' });
      const monitor = this.options.monitor;
      this.clock.start();
      if (monitor && monitor.every > 0 && ((step + 1) % monitor.every === 0 || isLast)) {
        this.record(step + 1, await monitor.run(step + 1), 'monitor');
      }
      this.clock.mark('monitor');
      // A step can run on microtasks alone, which would keep a signal's handler (a macrotask) from ever running.
      if (this.options.stop) await new Promise<void>((resolve) => setImmediate(resolve));
      const stopping = this.options.stop?.aborted === true && !isLast;
      if (this.options.outDir && ((checkpointEvery > 0 && (step + 1) % checkpointEvery === 0) || isLast || stopping)) {
        await this.checkpoint(step + 1);
      }
      this.clock.mark('checkpoint');
      if (stopping) {
        interrupted = { atStep: step + 1 };
        this.events.log('trainer', `stopped after step ${step + 1} of ${totalSteps}${this.options.outDir ? `; checkpoint written, continue with --resume` : ''}`, 'warn');
        break;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    return {
      ...(interrupted ? { interrupted } : {}),
      steps: (interrupted?.atStep ?? totalSteps) - this.startStep,
      startStep: this.startStep,
      finalLoss,
      imagesPerSecond,
      seconds,
      cpuUserSeconds: cpu.user / 1e6,
      cpuSystemSeconds: cpu.system / 1e6,
      phaseSeconds: { ...this.clock.seconds },
    };
  }

  /** One optimizer step; returns the loss value, and the pair weights when `keepWeights` and a quality scorer is set. */
  async step(step: number, keepWeights = false): Promise<{ loss: number; gradNorm?: number; weights?: Float32Array }> {
    const { data, views: pipelines, framework, quality } = this.options;
    const clock = this.clock;
    clock.start();
    const indices = this.order.indices(step);
    const batch = await data.read(indices);
    // The order is a pure function of the step, so a streaming dataset can decode the next batch meanwhile.
    data.prefetch?.(this.order.indices(step + 1));
    clock.mark('data');
    const rng = this.augmentRoot.fork(`step-${step}`);
    const n = indices.length;
    let sources: Tensor4D[];
    try {
      sources = await this.viewSources(batch.images, indices, step);
    } catch (error) {
      batch.images.dispose();
      throw error;
    }
    let views: Tensor4D[];
    let weights: Tensor1D | undefined;
    try {
      try {
        views = pipelines.map((pipeline, v) => {
          const params = pipeline.sampleParams(rng.fork(`view-${v}`), n, data.info.imageShape);
          return pipeline.apply(sources[v], params) as Tensor4D;
        });
      } finally {
        for (const source of new Set(sources)) if (source !== batch.images) source.dispose();
      }
      clock.mark('views');
      try {
        // The real images go along: a scorer comparing a (possibly generated) view with its real image needs them.
        weights = quality ? await quality.pairWeights({ views: [views[0], views[1]], captions: batch.captions, sources: batch.images }) : undefined;
      } catch (error) {
        for (const v of views) v.dispose();
        throw error;
      }
    } finally {
      batch.images.dispose();
    }
    clock.mark('quality');
    const viewBatch = { views, indices, weights, captions: batch.captions };
    const varList = this.trainable.map((v) => v.variable);
    const { value, grads } = tf.variableGrads(() => framework.loss(viewBatch, step), varList);
    clock.mark('lossAndGradients');
    const byName = new Map<string, tf.Tensor>();
    for (const v of this.trainable) {
      const g = grads[v.variable.name];
      if (g) byName.set(v.name, g);
    }
    let gradNorm: number | undefined;
    let clipped = byName;
    if (this.options.gradClipNorm) {
      const result = clipGradNorm(byName, this.options.gradClipNorm);
      gradNorm = result.totalNorm;
      clipped = result.grads;
    }
    this.optimizer.step(clipped, this.options.learningRate(step));
    if (clipped !== byName) for (const g of clipped.values()) g.dispose();
    for (const g of Object.values(grads)) g.dispose();
    clock.mark('optimizer');
    framework.afterStep?.(viewBatch, step, this.options.totalSteps);
    clock.mark('afterStep');
    const loss = (await value.data())[0];
    value.dispose();
    for (const v of views) v.dispose();
    const kept = keepWeights && weights ? ((await weights.data()) as Float32Array) : undefined;
    weights?.dispose();
    clock.mark('readBack');
    if (!Number.isFinite(loss)) {
      throw new GenviewError('BAD_INPUT', `the loss became ${loss} at step ${step}.`, {
        fix: 'lower trainer.lr, set trainer.gradClipNorm, or check the inputs for NaNs.',
      });
    }
    return { loss, gradNorm, weights: kept };
  }

  /**
   * The generated-view decisions of a step: a pure function of (seed, step, indices), which is what
   * keeps a resumed run identical to an uninterrupted one. Every row draws the same numbers whatever the
   * probability, so changing it only switches pairs on or off, never which view a pair would use.
   */
  generatedPlan(step: number, indices: Int32Array): GeneratedViewPlan {
    const probability = this.options.generated?.probability ?? 0;
    const candidates = this.options.generated?.views ?? Array.from(this.options.views, (_, v) => v);
    const stepRng = this.generatedRoot.fork(`step-${step}`);
    const view = new Int32Array(indices.length);
    const seeds = new Int32Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const use = stepRng.float() < probability;
      const which = candidates[stepRng.int(candidates.length)];
      view[i] = use ? which : -1;
      seeds[i] = stepRng.fork(`index-${indices[i]}`).int(0x7fffffff);
    }
    return { view, seeds };
  }

  /**
   * The image batch each view's pipeline starts from. Views without generated rows share `images`
   * itself (the caller must not dispose it twice); the others are fresh tensors the caller disposes.
   */
  private async viewSources(images: Tensor4D, indices: Int32Array, step: number): Promise<Tensor4D[]> {
    const viewCount = this.options.views.length;
    const generated = this.options.generated;
    if (!generated || generated.probability === 0) return new Array<Tensor4D>(viewCount).fill(images);
    const plan = this.generatedPlan(step, indices);
    const rows: number[] = [];
    plan.view.forEach((v, i) => {
      if (v >= 0) rows.push(i);
    });
    if (rows.length === 0) return new Array<Tensor4D>(viewCount).fill(images);

    const stacked = await this.generateRows(images, indices, rows, plan.seeds, generated.generator);
    try {
      // Rows of [images; generated]: row i of a view is its own image, or its generated one at n + k.
      const n = indices.length;
      return tf.tidy(() => {
        const pool = tf.concat([images, stacked], 0);
        return Array.from({ length: viewCount }, (_, v) => {
          if (!rows.some((i) => plan.view[i] === v)) return images;
          const take = Int32Array.from({ length: n }, (_, i) => i);
          rows.forEach((i, k) => {
            if (plan.view[i] === v) take[i] = n + k;
          });
          return tf.gather(pool, tf.tensor1d(take, 'int32')) as Tensor4D;
        });
      });
    } finally {
      stacked.dispose();
    }
  }

  /** One batched generator call for the chosen rows; returns their images stacked, [R, H, W, C]. */
  private async generateRows(images: Tensor4D, indices: Int32Array, rows: number[], seeds: Int32Array, generator: Generator): Promise<Tensor4D> {
    const [, h, w, c] = images.shape;
    const conditioning = tf.tidy(() => tf.unstack(tf.gather(images, tf.tensor1d(rows, 'int32'))) as Tensor3D[]);
    let views: GeneratedView[] = [];
    try {
      const requests: GenerationRequest[] = rows.map((i, k) => ({
        source: 'image',
        image: conditioning[k],
        index: indices[i],
        seed: seeds[i],
      }));
      views = await generator.generate(requests);
      if (!Array.isArray(views) || views.length !== rows.length) {
        throw new GenviewError('INTERNAL', `the generator "${generator.name}" returned ${Array.isArray(views) ? views.length : typeof views} views for ${rows.length} requests.`, {
          where: 'views.generated.generator',
          fix: 'a generator must return one view per request, in order.',
        });
      }
      views.forEach((view, k) => {
        const shape = view.image.shape;
        if (shape.length !== 3 || shape[0] !== h || shape[1] !== w || shape[2] !== c) {
          throw new GenviewError('BAD_SHAPE', `the generated view of image ${indices[rows[k]]} is [${shape.join(', ')}] but the training images are [${h}, ${w}, ${c}].`, {
            where: 'views.generated.generator',
            fix: 'generate the views at the training image size and channel count (run `genview generate` with the same data.train).',
          });
        }
      });
      return tf.stack(views.map((view) => view.image)) as Tensor4D;
    } finally {
      for (const view of views) view.image.dispose();
      for (const image of conditioning) image.dispose();
    }
  }

  async checkpoint(nextStep: number): Promise<string> {
    const dir = this.requireOutDir('checkpoint');
    const path = await saveCheckpoint(dir, this.state, this.optimizer, {
      step: nextStep,
      totalSteps: this.options.totalSteps,
      seed: this.options.seed,
      backend: this.options.backend ?? tf.getBackend(),
      configHash: this.options.configHash ?? '',
    });
    this.events.emit('checkpoint', { step: nextStep, path });
    return path;
  }

  /** The framework's state variables (for comparing runs and saving weights). */
  stateVariables(): ModuleVariable[] {
    return this.state;
  }

  dispose(): void {
    this.optimizer.dispose();
  }

  private record(step: number, values: Record<string, number>, split?: string): void {
    const epoch = step / this.order.stepsPerEpoch;
    this.events.emit('metric', { step, epoch, values, split });
    this.log?.write({ step, epoch: Number(epoch.toFixed(4)), ...(split ? { split } : {}), ...values });
    this.tensorboard?.scalars(step, Object.fromEntries(Object.entries(values).map(([k, v]) => [split ? `${split}/${k}` : k, v])));
  }

  private requireOutDir(what: string): string {
    if (!this.options.outDir) {
      throw new GenviewError('INVALID_CONFIG', `cannot ${what} without an output directory.`, { fix: 'set outDir.' });
    }
    return this.options.outDir;
  }
}

/** What TensorBoard shows of a step's pair weights: their spread, not every value (quality-weights.jsonl has those). */
function weightStatistics(weights: ArrayLike<number>): Record<string, number> {
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < weights.length; i++) {
    sum += weights[i];
    min = Math.min(min, weights[i]);
    max = Math.max(max, weights[i]);
  }
  const mean = sum / weights.length;
  let squares = 0;
  for (let i = 0; i < weights.length; i++) squares += (weights[i] - mean) ** 2;
  return { 'quality/weight_mean': mean, 'quality/weight_std': Math.sqrt(squares / weights.length), 'quality/weight_min': min, 'quality/weight_max': max };
}
