import { definePlugin, z } from '@genview/core';
import { createTextTransformer } from '../models/text-transformer';

export const textTransformerPlugin = definePlugin({
  kind: 'backbone',
  name: 'text-transformer',
  package: '@genview/backbones',
  description:
    'CLIP-style text tower: [N, contextLength] int32 token ids → [N, width]. Token + learned position embedding, pre-norm causal ' +
    'transformer blocks, final LayerNorm, feature pooled at the first eosTokenId of each row (the last position when a row has none). ' +
    'Take vocabSize, contextLength and eosTokenId from the tokenizer.',
  configSchema: z
    .object({
      vocabSize: z.number().int().positive(),
      contextLength: z.number().int().positive().default(77),
      eosTokenId: z.number().int().nonnegative(),
      width: z.number().int().positive().default(128),
      layers: z.number().int().positive().default(3),
      heads: z.number().int().positive().default(4),
      mlpRatio: z.number().positive().default(4),
    })
    .strict()
    .refine((c) => c.eosTokenId < c.vocabSize, { message: 'eosTokenId must be below vocabSize', path: ['eosTokenId'] })
    .refine((c) => c.width % c.heads === 0, { message: 'heads must divide width', path: ['heads'] }),
  create: (config, context) => createTextTransformer({ ...config, rng: context.rng }),
});
