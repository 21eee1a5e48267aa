import { definePlugin } from '@genview/core';
import { createVit } from '../models/vit';
import { withInitialWeights } from './initial-weights';
import { vitConfigSchema } from './vit-config';

export const vitTinyPlugin = definePlugin({
  kind: 'backbone',
  name: 'vit-tiny',
  package: '@genview/backbones',
  description: 'ViT-Tiny (dim 192, depth 12, heads 3): class token, learned position embedding, pre-norm blocks; featureDim = dim, patch tokens via featureMap. Override imageSize/patchSize/depth for small images.',
  configSchema: vitConfigSchema,
  create: ({ weights, ...config }, context) =>
    withInitialWeights(createVit({ ...config, variant: 'tiny', rng: context.rng, initialize: weights === undefined }), weights, context),
});
