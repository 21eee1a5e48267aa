import { definePlugin } from '@genview/core';
import { createResNet } from '../models/resnet';
import { withInitialWeights } from './initial-weights';
import { resnetConfigSchema } from './resnet-config';

export const resnet50Plugin = definePlugin({
  kind: 'backbone',
  name: 'resnet-50',
  package: '@genview/backbones',
  description: 'ResNet-50 (torchvision layout, no classifier; featureDim 2048). stem "cifar" (3x3 conv, no max-pool) for small images, "imagenet" (7x7/2 + max-pool) for large ones.',
  configSchema: resnetConfigSchema,
  create: ({ weights, ...config }, context) =>
    withInitialWeights(createResNet({ ...config, depth: 50, rng: context.rng, initialize: weights === undefined }), weights, context),
});
