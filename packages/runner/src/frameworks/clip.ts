import { definePlugin, z } from '@genview/core';
import { type ClipCoreConfig, clipCoreShape, createClipCore } from './clip-core';

/**
 * CLIP (Radford et al., 2021): an image tower and a text tower projected into one space, trained with
 * the symmetric image-text contrastive loss under a learnable temperature. The first view of each
 * batch is the image; its caption is the text. Pair weights from a quality scorer weight image-text pairs.
 */
export const clip = definePlugin({
  kind: 'framework',
  name: 'clip',
  package: '@genview/runner',
  description: 'CLIP: image backbone + text transformer, linear projections to a joint space, learnable logit scale, clip loss on (view 0, caption).',
  configSchema: z.object(clipCoreShape).strict(),
  async create(config, context) {
    const core = await createClipCore(config as ClipCoreConfig, context);
    return {
      name: 'clip',
      trainableModules: () => core.modules,
      stateModules: () => core.modules,
      loss: (batch) => core.clipLoss(core.imageFeatures(batch.views[0], true), batch),
      afterStep: () => core.afterStep(),
      encoder: () => core.encoder(),
      dispose: () => core.dispose(),
    };
  },
});
