import { definePlugin } from '@genview/core';
import { createVit } from '../models/vit';
import { withInitialWeights } from './initial-weights';
import { vitConfigSchema } from './vit-config';

export const vitSmallPlugin = definePlugin({
  kind: 'backbone',
  name: 'vit-small',
  package: '@genview/backbones',
  description: 'ViT-Small (dim 384, depth 12, heads 6): class token, learned position embedding, pre-norm blocks; featureDim = dim, patch tokens via featureMap. Override imageSize/patchSize/depth for small images.',
  configSchema: vitConfigSchema,
  create: ({ weights, ...config }, context) =>
    withInitialWeights(createVit({ ...config, variant: 'small', rng: context.rng, initialize: weights === undefined }), weights, context),
});
