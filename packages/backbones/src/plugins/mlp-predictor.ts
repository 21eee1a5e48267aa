import { definePlugin, z } from '@genview/core';
import { createMlpHead } from '../models/mlp-head';

export const mlpPredictorPlugin = definePlugin({
  kind: 'head',
  name: 'mlp-predictor',
  package: '@genview/backbones',
  description: 'Prediction MLP of BYOL/SimSiam: Linear→BN→ReLU→Linear (bottleneck hiddenDim); outDim defaults to inDim.',
  configSchema: z
    .object({
      inDim: z.number().int().positive(),
      hiddenDim: z.number().int().positive().default(512),
      outDim: z.number().int().positive().optional(),
    })
    .strict(),
  create: (config, context) =>
    createMlpHead({
      inDim: config.inDim,
      hiddenDim: config.hiddenDim,
      outDim: config.outDim ?? config.inDim,
      layers: 2,
      batchNorm: true,
      lastBatchNorm: false,
      rng: context.rng,
      name: 'mlp-predictor',
    }),
});
