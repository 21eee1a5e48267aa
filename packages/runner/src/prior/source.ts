import { type PluginContext, type PluginRef, type PluginRefConfig, Rng, backboneFeatures, buildBackbone, pluginRefSchema, z } from '@genview/core';
import { rawPixelFeatures } from '@genview/eval';
import { labelAttributePrior } from './attributes';
import { encoderPrior } from './encoder';
import type { PriorFeatures } from './features';
import { filePrior } from './file';
import { generativePrior } from './generative';
import { checkPriorEncoderName } from './encoder-name';
import { namedEncoderPrior, namedPriorEncoder } from './named';

/** The dataset a prior is computed on must be the one the trainer reads: prior rows are keyed by its indices. */
const priorDataSchema = pluginRefSchema.default({ name: 'fashion-mnist', split: 'train' });

/** Where a framework's per-sample prior features come from, as plain config data. */
export const priorSourceSchema = z.discriminatedUnion('kind', [
  z
    .object({
      /** Weak attributes derived from the dataset's labels (class id → attribute value per column). */
      kind: z.literal('attributes'),
      data: priorDataSchema,
      columns: z.array(z.array(z.number())).optional(),
      includeLabel: z.boolean().optional(),
      includeIndex: z.boolean().optional(),
    })
    .strict(),
  z
    .object({
      /**
       * A frozen encoder run once over the dataset: raw pixels, a backbone built for the prior (randomly
       * initialised with `seed`, or with its `weights`), or an encoder name the runner's feature-extractor
       * service resolves: "onnx:<file.onnx>[?options]" or "checkpoint:<another run>" (see encoder-name.ts).
       */
      kind: z.literal('encoder'),
      data: priorDataSchema,
      encoder: z.union([
        z.literal('pixels'),
        z.string().min(1),
        z.object({ backbone: pluginRefSchema, seed: z.number().int().nonnegative().default(0) }).strict(),
      ]),
      batchSize: z.number().int().positive().default(256),
    })
    .strict(),
  z
    .object({
      /**
       * A frozen generative model's own encoder: the image encoder of an ONNX unCLIP pipeline folder
       * (`tiny-unclip` names the bundled one), run once over the dataset with onnxruntime-node.
       */
      kind: z.literal('generative'),
      data: priorDataSchema,
      pipeline: z.string().min(1).default('tiny-unclip'),
      batchSize: z.number().int().positive().default(256),
      /** onnxruntime threads per operator; 0 lets onnxruntime choose. */
      threads: z.number().int().min(0).default(0),
    })
    .strict(),
  z
    .object({
      /** Precomputed features, one row per dataset index: .safetensors (tensor picks one) or .npy. */
      kind: z.literal('file'),
      path: z.string().min(1),
      tensor: z.string().optional(),
    })
    .strict(),
]);
export type PriorSourceConfig = z.infer<typeof priorSourceSchema>;

/** Builds the prior features a config names; datasets and backbones come from the registry by name. */
export async function buildPriorFeatures(source: PriorSourceConfig, context: PluginContext): Promise<PriorFeatures> {
  const where = context.path;
  if (source.kind === 'file') return filePrior(source.path, { tensor: source.tensor }, where);
  const named = namedPriorEncoder(source);
  // Refused names fail before the dataset is loaded.
  if (named !== undefined) checkPriorEncoderName(named, `${where}.encoder`);
  const data = await context.registry.create('dataset', source.data as PluginRef, { rng: context.rng, events: context.events, path: `${where}.data` });
  if (named !== undefined && source.kind === 'encoder') return namedEncoderPrior(data, named, { batchSize: source.batchSize }, context, where);
  if (source.kind === 'attributes') return labelAttributePrior(data, { columns: source.columns, includeLabel: source.includeLabel, includeIndex: source.includeIndex }, where);
  if (source.kind === 'generative') return generativePrior(data, source.pipeline, { batchSize: source.batchSize, threads: source.threads, events: context.events }, where);
  // Named encoders returned above, so the one string left is "pixels".
  if (typeof source.encoder === 'string') return encoderPrior(data, rawPixelFeatures(data), { batchSize: source.batchSize, events: context.events }, where);
  // Its own seeded stream: the prior encoder's weights do not shift the trained model's initialisation.
  const backbone = await buildBackbone(
    { ...context, rng: new Rng(source.encoder.seed).fork('prior-encoder') },
    source.encoder.backbone as PluginRefConfig,
    data.info.imageShape,
    `${where}.encoder.backbone`,
  );
  try {
    return await encoderPrior(data, backboneFeatures(backbone), { batchSize: source.batchSize, events: context.events }, where);
  } finally {
    backbone.dispose();
  }
}
