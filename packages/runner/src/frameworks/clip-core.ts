import {
  type Backbone,
  GenviewError,
  type Loss,
  type Module,
  type PluginContext,
  type PluginRef,
  type PluginRefConfig,
  type Scalar,
  type Tensor2D,
  type Tensor4D,
  type Tokenizer,
  type ViewBatch,
  type VisionLanguageEncoder,
  backboneFeatures,
  buildBackbone,
  inputShapeSchema,
  l2Normalize,
  named,
  pluginRefSchema,
  tf,
  z,
} from '@genview/core';
import { LogitScale, linearProjection } from './joint-space';

/** The options clip and slip share: two towers, their projections into one space, and the logit scale. */
export const clipCoreShape = {
  inputShape: inputShapeSchema.optional(),
  backbone: pluginRefSchema.default('small-cnn'),
  /** The text tower; vocabSize, contextLength and eosTokenId come from the tokenizer. */
  text: pluginRefSchema.default({ name: 'text-transformer', width: 128, layers: 3, heads: 4 }),
  /** A tokenizer the host provides: "captions" (trained on data.train's captions) or a CLIP tokenizer path. */
  tokenizer: z.string().min(1).default('captions'),
  jointDim: z.number().int().positive().default(128),
  /** CLIP starts the learnable temperature at 0.07 ... */
  initTemperature: z.number().positive().default(0.07),
  /** ... and never lets the logit scale exceed 100. */
  maxLogitScale: z.number().gt(1).default(100),
  loss: pluginRefSchema.default('clip'),
};

export interface ClipCoreConfig {
  inputShape?: [number, number, number];
  backbone: PluginRefConfig;
  text: PluginRefConfig;
  tokenizer: string;
  jointDim: number;
  initTemperature: number;
  maxLogitScale: number;
  loss: PluginRefConfig;
}

/** Texts per text-tower call in embedTexts: bounds the attention maps' memory for long caption lists. */
const TEXT_CHUNK = 256;

const TOKEN_FIELDS = ['vocabSize', 'contextLength', 'eosTokenId'] as const;

export interface ClipCore {
  backbone: Backbone;
  tokenizer: Tokenizer;
  /** Named by role for checkpoints; the image backbone is "backbone" (fine-tuning looks for it). */
  modules: Module[];
  /** The CLIP term: one view's backbone features (from imageFeatures) against the batch's captions. */
  clipLoss(features: Tensor2D, batch: ViewBatch): Scalar;
  /** Pooled backbone features; slip runs all its views through one pass and shares them between its terms. */
  imageFeatures(images: Tensor4D, training: boolean): Tensor2D;
  afterStep(): void;
  encoder(): VisionLanguageEncoder;
  dispose(): void;
}

async function requireTokenizer(context: PluginContext, name: string): Promise<Tokenizer> {
  const provide = context.services?.tokenizer;
  if (!provide) {
    throw new GenviewError('INVALID_CONFIG', `the host offers no tokenizer service, so the tokenizer "${name}" cannot be found.`, {
      where: `${context.path}.tokenizer`,
      fix: 'train through the genview runner (trainFromConfig, `genview train`), or pass services.tokenizer(name) in the plugin context.',
    });
  }
  return provide(name);
}

/** The text tower's reference with the tokenizer's sizes filled in; a conflicting size in the config is an error. */
function textRef(ref: PluginRefConfig, tokenizer: Tokenizer, path: string): PluginRef {
  const options: Record<string, unknown> & { name: string } = typeof ref === 'string' ? { name: ref } : { ...ref };
  for (const field of TOKEN_FIELDS) {
    if (options[field] !== undefined && options[field] !== tokenizer[field]) {
      throw new GenviewError('INVALID_CONFIG', `${field} is ${String(options[field])} but the tokenizer's is ${tokenizer[field]}.`, {
        where: `${path}.${field}`,
        fix: `remove ${field}: it is taken from the tokenizer.`,
      });
    }
    options[field] = tokenizer[field];
  }
  return options;
}

function requireCaptions(batch: ViewBatch, where: string): string[] {
  const n = batch.views[0].shape[0];
  if (!batch.captions) {
    throw new GenviewError('BAD_INPUT', 'the dataset in data.train gives no captions with its batches; image-text training pairs every image with its caption.', {
      where,
      fix: 'use a dataset with captions in data.train: captioned-shapes, or fashion-mnist with captions: true.',
    });
  }
  if (batch.captions.length !== n) {
    throw new GenviewError('BAD_SHAPE', `the batch has ${batch.captions.length} captions for ${n} images.`, {
      where,
      fix: 'the dataset must return one caption per image row (its read() captions, in row order).',
    });
  }
  return batch.captions;
}

function tokenIds(tokenizer: Tokenizer, texts: readonly string[]): Tensor2D {
  const { ids, shape } = tokenizer.encodeBatch(texts);
  return tf.tensor2d(ids, shape, 'int32');
}

/** Builds CLIP's parts (Radford et al., 2021) from a config; clip and slip wrap it. */
export async function createClipCore(config: ClipCoreConfig, context: PluginContext): Promise<ClipCore> {
  const path = context.path;
  const tokenizer = await requireTokenizer(context, config.tokenizer);
  const backbone = await buildBackbone(context, config.backbone, config.inputShape);
  const text = await context.registry.create('backbone', textRef(config.text, tokenizer, `${path}.text`), { ...context, path: `${path}.text` });
  const imageProjection = linearProjection('image_projection', backbone.featureDim, config.jointDim, context.rng.fork('image_projection'));
  const textProjection = linearProjection('text_projection', text.featureDim, config.jointDim, context.rng.fork('text_projection'));
  const logitScale = new LogitScale(config.initTemperature, config.maxLogitScale);
  const loss: Loss = await context.registry.create('loss', config.loss, { ...context, path: `${path}.loss` });
  const modules = [named(backbone, 'backbone'), named(text, 'text'), imageProjection, textProjection, logitScale];

  const imageFeatures = (images: Tensor4D, training: boolean) => backbone.apply(images, { training }) as Tensor2D;
  const projectImages = (features: Tensor2D, training: boolean) => tf.tidy(() => l2Normalize(imageProjection.apply(features, { training }) as Tensor2D, 1));
  const embedImages = (images: Tensor4D, training: boolean) => tf.tidy(() => projectImages(imageFeatures(images, training), training));
  const embedTexts = (texts: readonly string[], training: boolean) =>
    tf.tidy(() => l2Normalize(textProjection.apply(text.apply(tokenIds(tokenizer, texts), { training }), { training }) as Tensor2D, 1));

  return {
    backbone,
    tokenizer,
    modules,
    imageFeatures,
    clipLoss: (features, batch) =>
      tf.tidy(() => {
        const captions = requireCaptions(batch, path);
        const scale = logitScale.scale();
        // Passed through so a wrapper that restricts negatives (MCL) applies to the image-text logits too.
        return loss.compute({ views: [projectImages(features, true), embedTexts(captions, true)], weights: batch.weights, negativeMask: batch.negativeMask, logitScale: scale });
      }),
    afterStep: () => logitScale.clamp(),
    encoder: (): VisionLanguageEncoder => ({
      ...backboneFeatures(backbone),
      jointDim: config.jointDim,
      embedImages: (images) => embedImages(images, false),
      embedTexts: (texts) => {
        if (texts.length === 0) {
          throw new GenviewError('BAD_INPUT', 'embedTexts got no texts.', { where: `${path}.encoder`, fix: 'pass at least one text.' });
        }
        if (texts.length <= TEXT_CHUNK) return embedTexts(texts, false);
        const chunks: Tensor2D[] = [];
        for (let start = 0; start < texts.length; start += TEXT_CHUNK) chunks.push(embedTexts(texts.slice(start, start + TEXT_CHUNK), false));
        const all = tf.concat(chunks, 0) as Tensor2D;
        for (const chunk of chunks) chunk.dispose();
        return all;
      },
    }),
    dispose: () => {
      for (const module of modules) module.dispose();
    },
  };
}
