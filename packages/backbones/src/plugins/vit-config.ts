import { z } from '@genview/core';
import { initialWeightsSchema } from './initial-weights';

/** Options shared by the vit-tiny/small plugins; defaults are the standard 224px / 16px-patch models. */
export const vitConfigSchema = z
  .object({
    imageSize: z.number().int().positive().default(224),
    patchSize: z.number().int().positive().default(16),
    inChannels: z.number().int().positive().default(3),
    depth: z.number().int().positive().optional(),
    weights: initialWeightsSchema,
  })
  .strict()
  .refine((c) => c.imageSize % c.patchSize === 0, { message: 'patchSize must divide imageSize', path: ['patchSize'] });
