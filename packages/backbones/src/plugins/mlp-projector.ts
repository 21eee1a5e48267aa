import { definePlugin, z } from '@genview/core';
import { createMlpHead } from '../models/mlp-head';

export const mlpProjectorPlugin = definePlugin({
  kind: 'head',
  name: 'mlp-projector',
  package: '@genview/backbones',
  description: 'Projection MLP: (Linear→BN→ReLU)×(layers−1) → Linear [→ BN without affine when lastBatchNorm, as SimSiam].',
  configSchema: z
    .object({
      inDim: z.number().int().positive(),
      hiddenDim: z.number().int().positive().default(2048),
      outDim: z.number().int().positive().default(128),
      layers: z.union([z.literal(2), z.literal(3)]).default(2),
      batchNorm: z.boolean().default(true),
      lastBatchNorm: z.boolean().default(false),
    })
    .strict(),
  create: (config, context) => createMlpHead({ ...config, rng: context.rng, name: 'mlp-projector' }),
});
