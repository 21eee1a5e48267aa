import type { Scalar, Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import type { Rng } from '../rng';
import type { FrameworkStages } from './stages';

/* ----------------------------------------------------------------------------------------------
 * The instance contracts, one per plugin kind. A plugin's create() returns one of these.
 * Images are always NHWC float32 in [0, 1]; embeddings are [N, D].
 * -------------------------------------------------------------------------------------------- */

/** [height, width, channels] */
export type ImageShape = [number, number, number];

export interface DatasetInfo {
  name: string;
  size: number;
  imageShape: ImageShape;
  /** Class names when the data is labelled; labels are only needed by evaluators. */
  classNames?: string[];
}

export interface Batch {
  /** [N, H, W, C] float32 in [0, 1]. The caller disposes it. */
  images: Tensor4D;
  /** Dataset indices of the rows, in order. */
  indices: Int32Array;
  /** Class ids, when the dataset is labelled. */
  labels?: Int32Array;
  captions?: string[];
}

export interface Dataset {
  readonly info: DatasetInfo;
  /** All labels in index order, when labelled (evaluators need them without decoding images). */
  readonly labels?: Int32Array;
  readonly captions?: string[];
  read(indices: ArrayLike<number>): Promise<Batch>;
  /**
   * A hint that these rows will be read soon (the Trainer passes the next batch's indices after each
   * read), so a streaming dataset can start decoding them. Optional; datasets in memory ignore it.
   */
  prefetch?(indices: ArrayLike<number>): void;
}

/** Handcrafted view transform with the parameters sampled apart from their application. */
export interface Augmentation<P = unknown> {
  readonly name: string;
  /** Draws the parameters for `batchSize` images (crop boxes, flip flags...): logged and inspectable. */
  sampleParams(rng: Rng, batchSize: number, imageShape: ImageShape): P;
  /** Applies given parameters to a batch; returns a new tensor, does not dispose its input. */
  apply(images: Tensor4D, params: P): Tensor4D;
}

/** What the generator is asked to make for one sample; chosen per sample by a conditioning plugin. */
export interface GenerationParams {
  source: 'image' | 'text' | 'image+text';
  /** unCLIP embedding noise level (0..999): higher gives freer variations. */
  noiseLevel?: number;
  guidanceScale?: number;
  /** img2img strength in [0, 1]. */
  strength?: number;
  prompt?: string;
  seed: number;
  steps?: number;
}

export interface GenerationRequest extends GenerationParams {
  /** [H, W, C] in [0, 1], for image-conditioned sources. */
  image?: Tensor3D;
  /** The dataset index the view belongs to (used by view stores). */
  index?: number;
}

export interface GeneratedView {
  /** [H, W, C] in [0, 1]. */
  image: Tensor3D;
  params: GenerationParams;
  index?: number;
}

export interface Generator {
  readonly name: string;
  generate(requests: GenerationRequest[]): Promise<GeneratedView[]>;
  dispose?(): Promise<void> | void;
}

export interface ConditioningInput {
  indices: Int32Array;
  images?: Tensor4D;
  captions?: string[];
  /**
   * When a host makes several views of each image: which one is being decided (0-based) and how many
   * there are, so a conditioning can spread its choices over an image's views instead of drawing each alone.
   */
  view?: { index: number; count: number };
}

export interface Conditioning {
  readonly name: string;
  decide(input: ConditioningInput, rng: Rng): Promise<GenerationParams[]>;
}

/**
 * A frozen network that embeds images, and optionally yields patch tokens (for foreground masks).
 * Quality scorers receive one through this contract instead of importing a backbone package.
 */
export interface FeatureExtractor {
  readonly featureDim: number;
  /** [N, H, W, C] → [N, D] */
  embed(images: Tensor4D): Tensor2D;
  /** [N, H, W, C] → [N, T, D] patch tokens, when the network has a spatial map. */
  patchTokens?(images: Tensor4D): Tensor3D;
}

/**
 * A frozen encoder of patch tokens, for foreground masks (GenView's direction fit, adaptive noise and
 * quality weights). Every FeatureExtractor with patchTokens is one; an encoder that runs outside
 * TensorFlow.js (an image tower exported to ONNX) is one too, and answers with a promise. Callers run
 * patchTokens inside tf.tidy (freeing a synchronous encoder's intermediates), so an asynchronous one
 * should not keep tensors it makes before its first await.
 */
export interface PatchTokenEncoder {
  /** [N, H, W, C] in [0, 1] → [N, T, D] patch tokens. */
  patchTokens(images: Tensor4D): Tensor3D | Promise<Tensor3D>;
}

/**
 * Text → token ids for a text encoder: a real CLIP tokenizer (tokenizer.json, vocab.json + merges.txt)
 * or one trained on a local caption set. Text towers take ids, never strings, so a tokenizer can be
 * swapped without touching the model.
 */
export interface Tokenizer {
  readonly vocabSize: number;
  /** Length every row is padded or cut to, start and end tokens included. */
  readonly contextLength: number;
  /** Id of the end-of-text token; CLIP-style text towers pool the features at its (first) position. */
  readonly eosTokenId: number;
  /** Row-major ids of shape [texts, contextLength]. */
  encodeBatch(texts: readonly string[]): { ids: Int32Array; shape: [number, number] };
}

/**
 * An encoder with a joint image-text space (CLIP and the like). `embed` keeps giving the image tower's
 * features (kNN and linear probes read those); zero-shot classification and retrieval read the joint
 * space through `embedImages` and `embedTexts`.
 */
export interface VisionLanguageEncoder extends FeatureExtractor {
  /** Size of the joint space. */
  readonly jointDim: number;
  /** [N, H, W, C] → [N, jointDim], L2-normalised. */
  embedImages(images: Tensor4D): Tensor2D;
  /** N texts → [N, jointDim], L2-normalised. */
  embedTexts(texts: readonly string[]): Tensor2D;
}

/**
 * A frozen image-text model that runs outside TensorFlow.js (a CLIP exported to ONNX), so it answers
 * asynchronously. Quality scorers use it to score how well a view matches its caption; it is never
 * trained. Outputs are L2-normalised rows in the model's joint space.
 */
export interface FrozenVisionLanguageModel {
  /** Size of the joint space. */
  readonly jointDim: number;
  /** [N, H, W, C] in [0, 1] → [N, jointDim]; the model resizes and normalises as it was trained. */
  embedImages(images: Tensor4D): Promise<Tensor2D>;
  /** N texts → [N, jointDim]. */
  embedTexts(texts: readonly string[]): Promise<Tensor2D>;
}

/** How visually demanding a caption is (GenView++ picks the guidance scale from it). */
export interface CaptionComplexityScorer {
  readonly name: string;
  /** One score per caption, an integer in 1..4 (1: a bare object; 4: many concrete constraints). */
  score(captions: readonly string[]): Promise<number[]>;
}

export interface QualityInput {
  /** The two views of each pair, [N, H, W, C] each. */
  views: [Tensor4D, Tensor4D];
  /** Generation parameters behind each view, where known. */
  params?: [GenerationParams[] | undefined, GenerationParams[] | undefined];
  captions?: string[];
  /**
   * The real images the views were made from, before generation and augmentation, [N, H, W, C] (their
   * size may differ from the views'). Scorers that compare a view with its real image read these.
   */
  sources?: Tensor4D;
}

export interface QualityScorer {
  readonly name: string;
  /**
   * Per-pair weights [N], mean 1, detached (no gradient flows through them). A scorer that runs a model
   * outside TensorFlow.js (an ONNX encoder) answers with a promise; hosts await the result either way.
   */
  pairWeights(input: QualityInput): Tensor1D | Promise<Tensor1D>;
}

/** How a loss combines across data-parallel processes (a frequent source of silent bugs when unstated). */
export type CrossProcessReduction =
  | { kind: 'local' }
  | { kind: 'all-gather-negatives'; gradientScale: 'world-size' | 'none' };

export interface LossInputs {
  /** Online/query embeddings of each view, each [N, D]. */
  views: Tensor2D[];
  /** Target/key embeddings (momentum or EMA branch), each [N, D]; no gradient flows into them. */
  targets?: Tensor2D[];
  /** Predictor outputs for BYOL/SimSiam-style losses, each [N, D]. */
  predictions?: Tensor2D[];
  /** Extra negatives, [Q, D] (a MoCo queue). */
  queue?: Tensor2D;
  /** Per-pair weights [N] (mean 1) from a quality scorer; equal weights give the unweighted loss. */
  weights?: Tensor1D;
  /** 1 where a (row, column) pair may serve as a negative; [N, N] over the batch. */
  negativeMask?: Tensor2D;
  /** 1 where a (row, queue entry) pair may serve as a negative; [N, Q]. */
  queueNegativeMask?: Tensor2D;
  /** Prior-knowledge kernel over the batch, [N, N] (decoupled uniformity). */
  kernel?: Tensor2D;
  /** Learnable inverse temperature (CLIP's logit scale, already exponentiated), a scalar variable's value. */
  logitScale?: Scalar;
}

export interface Loss {
  readonly name: string;
  /** Which optional inputs the loss needs; frameworks check this before the first step. */
  readonly requires: ReadonlyArray<'targets' | 'predictions' | 'queue' | 'kernel'>;
  readonly crossProcess: CrossProcessReduction;
  compute(inputs: LossInputs): Scalar;
  /** Extra metrics computed alongside (e.g. alignment); numbers, not tensors. */
  metrics?(inputs: LossInputs): Record<string, number>;
}

/** A named variable of a module, with what the optimizer should do with it. */
export interface ModuleVariable {
  /** Dotted path, stable across runs: used in checkpoints and weight files. */
  name: string;
  variable: Variable;
  /** False for batch-norm running statistics and other buffers. */
  trainable: boolean;
  /** False for biases and normalisation parameters (no weight decay on them). */
  decay: boolean;
  /**
   * True for state added after checkpoints were already being written (e.g. a queue's per-key groups):
   * a checkpoint without it still loads and the variable keeps the value it has (in a freshly built model,
   * its initial value). Default false.
   */
  optional?: boolean;
}

export interface ForwardMode {
  training: boolean;
}

/** A network as named variables plus a pure forward function. */
export interface Module {
  readonly name: string;
  variables(): ModuleVariable[];
  apply(x: Tensor, mode: ForwardMode): Tensor;
  dispose(): void;
}

export interface Backbone extends Module {
  /** Size of the pooled feature vector. */
  readonly featureDim: number;
  /** Spatial features before pooling, [N, h, w, D], where the architecture has them. */
  featureMap?(x: Tensor4D, mode: ForwardMode): Tensor4D;
}

export interface Head extends Module {
  readonly inDim: number;
  readonly outDim: number;
}

export interface StepMetrics {
  loss: number;
  [name: string]: number;
}

/** The views of one training batch, as a framework receives them. */
export interface ViewBatch {
  /** Two or more augmented views, each [N, H, W, C]. */
  views: Tensor4D[];
  indices: Int32Array;
  /** Per-pair weights from a quality scorer, when one is configured. */
  weights?: Tensor1D;
  /** Negatives mask over the batch (MCL), when configured. */
  negativeMask?: Tensor2D;
  /**
   * Each sample's negative group [N] (MCL: its pseudo label), non-negative ids: a sample, or a key a
   * framework remembers from it (a queue, a memory bank), may serve as a negative only for anchors of the
   * same group. Batch negatives are restricted by negativeMask; frameworks with remembered negatives
   * store the groups with them and mask those (LossInputs.queueNegativeMask). Remembered negatives of
   * unknown group (never set, or stored while no groups were given) are excluded while groups are given.
   */
  negativeGroups?: Int32Array;
  captions?: string[];
}

/** An SSL method: modules, how a batch of views becomes a loss, and per-step state updates. */
export interface Framework {
  readonly name: string;
  /** Modules updated by the optimizer. */
  trainableModules(): Module[];
  /** Every module whose variables a checkpoint must hold (targets and queues included). */
  stateModules(): Module[];
  /** The loss of one batch; called inside the optimizer's gradient tape. */
  loss(batch: ViewBatch, step: number): Scalar;
  /** After the optimizer update: EMA targets, queues. Runs outside the tape. */
  afterStep?(batch: ViewBatch, step: number, totalSteps: number): void;
  /** The encoder evaluators measure. */
  encoder(): FeatureExtractor;
  dispose(): void;
  /**
   * Present when the framework trains in stages (see FrameworkStages): this instance trains the first
   * stage and the hooks build the rest. A host that knows nothing of stages trains this instance alone.
   */
  readonly stages?: FrameworkStages;
}

export interface EvalResult {
  evaluator: string;
  /** e.g. { 'top1@k=20': 0.81 } */
  metrics: Record<string, number>;
  /** What the numbers are: protocol, k, features, sizes. */
  description: string;
}

export interface EvalData {
  train: Dataset;
  test: Dataset;
}

export interface Evaluator {
  readonly name: string;
  evaluate(encoder: FeatureExtractor, data: EvalData): Promise<EvalResult>;
}

/** A kernel on prior features, for decoupled uniformity with prior knowledge. */
export interface PriorKernel {
  readonly name: string;
  /** [N, F] prior features → [N, N] kernel matrix. */
  matrix(features: Tensor2D): Tensor2D;
}

/** Maps each plugin kind to the instance its create() returns. */
export interface PluginInstances {
  dataset: Dataset;
  augment: Augmentation;
  generator: Generator;
  conditioning: Conditioning;
  quality: QualityScorer;
  loss: Loss;
  backbone: Backbone;
  head: Head;
  framework: Framework;
  evaluator: Evaluator;
  kernel: PriorKernel;
  complexity: CaptionComplexityScorer;
}

export type PluginKind = keyof PluginInstances;

export const PLUGIN_KINDS: readonly PluginKind[] = [
  'dataset',
  'augment',
  'generator',
  'conditioning',
  'quality',
  'loss',
  'backbone',
  'head',
  'framework',
  'evaluator',
  'kernel',
  'complexity',
];

export type AnyTensor = Tensor;
