import { z } from '@genview/core';
import { initialWeightsSchema } from './initial-weights';

/** Options shared by the resnet-18/34/50 plugins. */
export const resnetConfigSchema = z
  .object({
    stem: z.enum(['cifar', 'imagenet']).default('cifar'),
    inChannels: z.number().int().positive().default(3),
    widthMultiplier: z.number().positive().default(1),
    zeroInitResidual: z.boolean().default(false),
    weights: initialWeightsSchema,
  })
  .strict();
