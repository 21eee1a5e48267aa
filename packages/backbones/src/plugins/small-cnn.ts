import { definePlugin, z } from '@genview/core';
import { createSmallCnn } from '../models/small-cnn';

export const smallCnnPlugin = definePlugin({
  kind: 'backbone',
  name: 'small-cnn',
  package: '@genview/backbones',
  description: 'Four conv3x3+BN+ReLU blocks (stride 2 on blocks 2-4) and global average pooling; featureDim = last width. Fast on CPU for 28x28/32x32 data.',
  configSchema: z
    .object({
      inChannels: z.number().int().positive().default(3),
      widths: z.array(z.number().int().positive()).min(1).default([32, 64, 128, 256]),
    })
    .strict(),
  create: (config, context) => createSmallCnn({ ...config, rng: context.rng }),
});
