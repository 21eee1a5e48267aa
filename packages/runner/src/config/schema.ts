import { pluginRefSchema, z } from '@genview/core';
import { MCL_CLUSTERING_DEFAULTS, mclClusteringSchema, stepsPerStageSchema } from '../frameworks/mcl/settings';

/** Plugin references live in @genview/core (third-party plugins use them too); re-exported for existing imports. */
export { pluginRefSchema, type PluginRefConfig } from '@genview/core';

const scheduleSchema = z
  .object({
    name: z.enum(['cosine', 'constant']).default('cosine'),
    /** Linear warm-up length, as a fraction of all steps when < 1, else a step count. */
    warmup: z.number().nonnegative().default(0.05),
    finalLr: z.number().nonnegative().default(0),
  })
  .strict();

/**
 * Deprecated: the run-level section of multistage contrastive learning (MCL, METHODS.md section 3).
 * Its fields now belong to the mcl framework reference, `framework: { name: mcl, inner: simclr, stages:
 * 3, ... }`, and `evaluateStages` to `eval.stages`. A config that still has this section is read that
 * way (config/migrate.ts) with a deprecation warning; the stages train exactly as before.
 */
export const mclRunSchema = z
  .object({
    /** Number of stages S, the first (ordinary training, no pseudo labels) included. */
    stages: z.number().int().min(1).default(3),
    /** Steps of every stage, or one number per stage; default: the trainer's total split evenly. */
    stepsPerStage: stepsPerStageSchema.optional(),
    clustering: mclClusteringSchema.default({ ...MCL_CLUSTERING_DEFAULTS }),
    /** mask: mixed batches with a pseudo-label negatives mask; sampler: one-label batches (upstream). Default: the mcl framework's own, else mask. */
    negatives: z.enum(['mask', 'sampler']).optional(),
    /** Also evaluate every stage's encoder on its own (results "mcl stage 1", ...), after the integrated one. */
    evaluateStages: z.boolean().default(true),
    /** Images per encoder call when embedding the training set for k-means. */
    embedBatchSize: z.number().int().positive().default(256),
  })
  .strict();

export const runConfigSchema = z
  .object({
    /**
     * Third-party plugin modules to register before anything is built: package names or file paths
     * (relative paths resolve against the config file's directory). Each module exports `plugins` (an
     * array of definePlugin values) or a default export of such an array or of one plugin. No default
     * (absent, not []), so configs without it hash as before and resume their checkpoints.
     */
    plugins: z.array(z.string().min(1)).optional(),
    seed: z.number().int().nonnegative().default(0),
    /** Where checkpoints, metrics.jsonl and results.json go. */
    outDir: z.string().default('runs/genview'),
    data: z
      .object({
        train: pluginRefSchema.default({ name: 'fashion-mnist', split: 'train' }),
        test: pluginRefSchema.default({ name: 'fashion-mnist', split: 'test' }),
      })
      .strict()
      .default({ train: { name: 'fashion-mnist', split: 'train' }, test: { name: 'fashion-mnist', split: 'test' } }),
    views: z
      .object({
        /** A named recipe from @genview/views (simclr, moco-v2, byol) sized to the images. */
        preset: z.string().optional(),
        /** Or explicit pipelines, one list of augment refs per view. */
        pipelines: z.array(z.array(pluginRefSchema)).min(2).optional(),
        /**
         * GenView's generated views: in a fraction of the pairs one view (chosen at random per pair) starts
         * from a generated image of the sample instead of the sample itself; both then get their augmentations.
         */
        generated: z
          .object({
            /** Usually the view store written by `genview generate`: { name: view-store, dir: <outDir>/views }. */
            generator: pluginRefSchema,
            /** Fraction of pairs with a generated view; GenView uses one in every pair. */
            probability: z.number().min(0).max(1).default(1),
            /** Views a generated image may replace (default: any). clip reads view 0 only; slip's SSL term views 1 and 2. */
            views: z.array(z.number().int().nonnegative()).min(1).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ preset: 'simclr' }),
    framework: pluginRefSchema.default({ name: 'simclr' }),
    /**
     * Per-pair loss weights (GenView's quality-driven loss), e.g. { name: genview-fg-bg, encoder:
     * checkpoint:runs/x, direction: fg.safetensors }. Encoders are resolved by the runner: see run/services.ts.
     */
    quality: pluginRefSchema.optional(),
    /**
     * The tokenizer the runner learns from data.train's captions when a framework asks for "captions"
     * (clip, slip); saved in <outDir>/tokenizer so resume and eval reuse it.
     */
    tokenizer: z
      .object({
        /** BPE merges to learn (fewer when the captions run out of pairs seen minFrequency times). */
        merges: z.number().int().nonnegative().default(1000),
        minFrequency: z.number().int().positive().default(2),
        /** Tokens per text, start and end included; default: the tokenizer's own (77 for CLIP's). */
        contextLength: z.number().int().min(2).optional(),
      })
      .strict()
      .default({ merges: 1000, minFrequency: 2 }),
    optimizer: z.looseObject({ name: z.string() }).default({ name: 'lars' }),
    schedule: scheduleSchema.default({ name: 'cosine', warmup: 0.05, finalLr: 0 }),
    trainer: z
      .object({
        /** Total optimizer steps; wins over epochs when both are set. */
        steps: z.number().int().positive().optional(),
        epochs: z.number().positive().default(1),
        batchSize: z.number().int().positive().default(256),
        /** Base learning rate (before any scaling). */
        lr: z.number().positive().default(0.3),
        /** Scale lr by batchSize/256 (the linear scaling rule). */
        scaleLr: z.boolean().default(true),
        gradClipNorm: z.number().positive().optional(),
        checkpointEvery: z.number().int().positive().default(500),
        logEvery: z.number().int().positive().default(10),
        /** Run the monitoring kNN every N steps (0 = only at the end). */
        evalEvery: z.number().int().nonnegative().default(0),
        /** Limit the training set to its first N images (quick runs and tests). */
        limitTrain: z.number().int().positive().optional(),
        /** Also write TensorBoard event files beside metrics.jsonl (`tensorboard --logdir runs/`). */
        tensorboard: z.boolean().default(true),
      })
      .strict()
      .default({ epochs: 1, batchSize: 256, lr: 0.3, scaleLr: true, checkpointEvery: 500, logEvery: 10, evalEvery: 0, tensorboard: true }),
    eval: z
      .object({
        evaluators: z.array(pluginRefSchema).default(['knn', 'linear-probe']),
        /** Raw-pixel and random-encoder baselines, measured in the same run. */
        baselines: z.boolean().default(true),
        /**
         * For a multi-stage framework (MCL): also evaluate every stage's encoder on its own, after the
         * integrated one. Default true; no default in the schema, so configs without it hash as before.
         */
        stages: z.boolean().optional(),
        /**
         * `genview eval` evaluates this frozen encoder instead of the run's checkpoint: onnx:<file>[?options],
         * safetensors:<file>, checkpoint:<run dir> or random:<seed>; then the raw-pixel baseline (eval.baselines).
         */
        encoder: z.string().min(1).optional(),
        /** The monitoring kNN during training uses this many train/test images. */
        monitorTrain: z.number().int().positive().default(10000),
        monitorTest: z.number().int().positive().default(2000),
        /**
         * Semi-supervised fine-tuning of the whole backbone (not frozen) on labelled fractions of train;
         * off unless set, since it trains one network per fraction (and one more per baseline).
         */
        finetune: z
          .object({
            fractions: z.array(z.number().gt(0).lte(1)).nonempty().default([0.01, 0.1]),
            steps: z.number().int().positive().default(500),
            batchSize: z.number().int().positive().default(64),
            lr: z.number().positive().default(0.1),
            /** Label-preserving augmentations for the labelled batches. */
            augment: z
              .array(pluginRefSchema)
              .default([
                { name: 'random-resized-crop', scale: [0.5, 1], ratio: [0.75, 4 / 3] },
                { name: 'horizontal-flip', p: 0.5 },
              ]),
            evalBatchSize: z.number().int().positive().default(500),
            /**
             * Frozen encoders compared at the same label budget (any featureExtractor name, e.g.
             * onnx:<file>): a linear probe and kNN on the same labelled subsets, never fine-tuned.
             */
            frozen: z.array(z.string().min(1)).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ evaluators: ['knn', 'linear-probe'], baselines: true, monitorTrain: 10000, monitorTest: 2000 }),
    /** Deprecated: MCL's settings as a run-level section (see mclRunSchema); write them into `framework: { name: mcl, ... }`. */
    mcl: mclRunSchema.optional(),
    /** `genview generate`: precomputed generated views of data.train in a view store. */
    generate: z
      .object({
        /** The generator; the default is the project's own small unCLIP model (@genview/model-tiny-unclip). */
        generator: pluginRefSchema.default({ name: 'onnx-diffusion', path: 'tiny-unclip' }),
        /** Chooses noise level, source, guidance and seed per image. */
        conditioning: pluginRefSchema.default({ name: 'genview-adaptive-noise', strategy: 'fixed', level: 0 }),
        /** Store folder; default <outDir>/views. */
        store: z.string().optional(),
        viewsPerImage: z.number().int().positive().default(1),
        shardSize: z.number().int().positive().default(256),
        batchSize: z.number().int().positive().default(32),
        /** Only the first N images of data.train. */
        limit: z.number().int().positive().optional(),
      })
      .strict()
      .default({
        generator: { name: 'onnx-diffusion', path: 'tiny-unclip' },
        conditioning: { name: 'genview-adaptive-noise', strategy: 'fixed', level: 0 },
        viewsPerImage: 1,
        shardSize: 256,
        batchSize: 32,
      }),
  })
  .strict();

export type RunConfig = z.infer<typeof runConfigSchema>;
/** The deprecated run-level MCL section. */
export type MclRunConfig = NonNullable<RunConfig['mcl']>;
