import type { AnyPlugin } from '@genview/core';
import { colorJitterPlugin } from './augment/color-jitter';
import { gaussianBlurPlugin } from './augment/gaussian-blur';
import { horizontalFlipPlugin } from './augment/horizontal-flip';
import { randomGrayscalePlugin } from './augment/random-grayscale';
import { randomResizedCropPlugin } from './augment/random-resized-crop';
import { solarizePlugin } from './augment/solarize';
import { onnxDiffusionPlugin } from './diffusion/onnx-diffusion-plugin';
import { viewStorePlugin } from './store/view-store-plugin';
import { multiSourcePlugin } from './diffusion/multisource-conditioning';
import { ruleBasedComplexityPlugin } from './text/caption-complexity';

// Augmentations
export type { SizeOption } from './augment/common';
export {
  type CropRect,
  RandomResizedCrop,
  type RandomResizedCropOptions,
  type RandomResizedCropParams,
  randomResizedCropPlugin,
  randomResizedCropSchema,
} from './augment/random-resized-crop';
export { HorizontalFlip, type HorizontalFlipOptions, type HorizontalFlipParams, horizontalFlipPlugin, horizontalFlipSchema } from './augment/horizontal-flip';
export { ColorJitter, type ColorJitterOptions, type ColorJitterParams, type JitterOp, colorJitterPlugin, colorJitterSchema } from './augment/color-jitter';
export { RandomGrayscale, type RandomGrayscaleOptions, type RandomGrayscaleParams, randomGrayscalePlugin, randomGrayscaleSchema } from './augment/random-grayscale';
export { GaussianBlur, type GaussianBlurOptions, type GaussianBlurParams, gaussianBlurPlugin, gaussianBlurSchema } from './augment/gaussian-blur';
export { Solarize, type SolarizeOptions, type SolarizeParams, solarizePlugin, solarizeSchema } from './augment/solarize';
export { type PipelineParams, ViewPipeline, buildPipeline } from './augment/pipeline';
export { augmentationFromRef, pipelineFromRefs } from './augment/from-ref';
export { type AugmentationPreset, type AugmentationPresetName, augmentationPresets, presetFor, presetPipelines } from './augment/presets';

// Text: CLIP's tokenizer, training a BPE vocabulary for captions, caption complexity (GenView++)
export {
  type ClipBatchEncoding,
  type ClipDecodeOptions,
  type ClipEncodeOptions,
  type ClipEncoding,
  ClipTokenizer,
  type ClipTokenizerSpec,
} from './text/clip-tokenizer';
export { type CaptionTokenizerOptions, trainCaptionTokenizer } from './text/caption-tokenizer';
export {
  type ConstraintCounts,
  DEFAULT_COMPLEXITY_THRESHOLDS,
  GENVIEW_PP_GUIDANCE,
  RuleBasedComplexityScorer,
  type RuleBasedComplexityOptions,
  complexityForCount,
  guidanceForComplexity,
  ruleBasedComplexityPlugin,
  ruleBasedComplexitySchema,
} from './text/caption-complexity';
export {
  type ClipBpeModel,
  type ClipBpeTrainOptions,
  type WriteClipTokenizerOptions,
  clipBaseVocabulary,
  trainClipBpe,
  writeClipTokenizer,
} from './text/train-bpe';

// Generative views: ONNX diffusion pipelines on onnxruntime-node
export {
  SCHEDULER_CLASSES,
  type SchedulerClassName,
  type SchedulerConfig,
  type SchedulerConfigInput,
  type CreateSchedulerOptions,
  type DiffusionScheduler,
  type SchedulerKind,
  createScheduler,
  readSchedulerConfig,
} from './diffusion/schedulers/index';
export { OnnxDiffusionPipeline, type DiffusionPipelineOptions } from './diffusion/pipeline';
export { OnnxDiffusionGenerator, type OnnxDiffusionOptions, onnxDiffusionPlugin, onnxDiffusionSchema } from './diffusion/onnx-diffusion-plugin';
export { PIPELINE_PARTS, type PipelinePart, type PipelineFolder, readPipelineFolder } from './diffusion/pipeline-folder';
export type { ExecutionProvider } from './diffusion/onnx-runtime';
export { ONNX_CLIP_LAYOUT, OnnxClipModel, type OnnxClipOptions } from './frozen/onnx-clip';
export { OnnxPatchEncoder, type OnnxPatchEncoderOptions, PATCH_TOKENS_OUTPUT } from './frozen/onnx-patch-encoder';
export { OnnxImageEncoder, type OnnxImageEncoderOptions } from './frozen/onnx-image-encoder';
export { type PlainTensor, SyncOnnxSession, type TensorInfo } from './frozen/sync-onnx-session';
export {
  GENERATION_SOURCES,
  MultiSourceConditioning,
  type MultiSourceDependencies,
  type MultiSourceOptions,
  multiSourcePlugin,
  multiSourceSchema,
} from './diffusion/multisource-conditioning';

// View store: generated views on disk, sharded and resumable
export {
  ViewStore,
  type OpenOrCreateOptions,
  type ShardRange,
  type StoreLocation,
  type StoredView,
  type ViewStoreOptions,
  type ViewToStore,
  type WriteShardResult,
  type VerifyReport,
  type VerifyProblem,
} from './store/view-store';
export { type StoreBackend, LocalStoreBackend } from './store/backend';
export { type StoreMeta, type StoreMetaInput, type ShardMarker, type StoreIndex, configHash } from './store/layout';
export { ViewStoreGenerator, type ViewStoreGeneratorOptions, viewStorePlugin, viewStoreSchema } from './store/view-store-plugin';

/** Every plugin of @genview/views, for `registry.register(plugins)`. */
export const plugins: readonly AnyPlugin[] = [
  randomResizedCropPlugin,
  horizontalFlipPlugin,
  colorJitterPlugin,
  randomGrayscalePlugin,
  gaussianBlurPlugin,
  solarizePlugin,
  onnxDiffusionPlugin,
  viewStorePlugin,
  multiSourcePlugin,
  ruleBasedComplexityPlugin,
];
