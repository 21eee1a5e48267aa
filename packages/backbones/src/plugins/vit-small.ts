import { definePlugin } from '@genview/core';
import { createVit } from '../models/vit';
import { vitConfigSchema } from './vit-config';

export const vitSmallPlugin = definePlugin({
  kind: 'backbone',
  name: 'vit-small',
  package: '@genview/backbones',
  description: 'ViT-Small (dim 384, depth 12, heads 6): class token, learned position embedding, pre-norm blocks; featureDim = dim, patch tokens via featureMap. Override imageSize/patchSize/depth for small images.',
  configSchema: vitConfigSchema,
  create: (config, context) => createVit({ ...config, variant: 'small', rng: context.rng }),
});
