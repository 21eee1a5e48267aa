import { type PluginRefConfig, type Scalar, type Tensor2D, buildHead, definePlugin, named, pluginRefSchema, tf, z } from '@genview/core';
import { type ClipCoreConfig, clipCoreShape, createClipCore } from './clip-core';

/**
 * SLIP (Mu et al., 2022): CLIP plus SimCLR on the same image tower, total = clip + sslWeight · ssl.
 * With three views, as SLIP, view 0 feeds CLIP and views 1 and 2 the SimCLR term; with two, view 0
 * serves both. All views go through the backbone in one pass (one set of batch-norm statistics).
 * Quality weights are scored on views 0 and 1, so they weight the pairs built from those views: the
 * image-text pair (view 0, caption) always, and the SimCLR pair only with two views; with three, the
 * SimCLR pair (views 1, 2) is not the scored one and stays unweighted.
 */
export const slip = definePlugin({
  kind: 'framework',
  name: 'slip',
  package: '@genview/runner',
  description: 'SLIP: CLIP plus an image self-supervised term (SimCLR NT-Xent through an MLP projector) on the shared image backbone.',
  configSchema: z
    .object({
      ...clipCoreShape,
      projector: pluginRefSchema.default({ name: 'mlp-projector', hiddenDim: 512, outDim: 128 }),
      /** SLIP's SimCLR temperature is 0.1. */
      sslLoss: pluginRefSchema.default({ name: 'nt-xent', temperature: 0.1 }),
      sslWeight: z.number().nonnegative().default(1),
    })
    .strict(),
  async create(config, context) {
    const core = await createClipCore(config as ClipCoreConfig, context);
    const projector = await buildHead(context, config.projector as PluginRefConfig, core.backbone.featureDim, `${context.path}.projector`);
    const sslLoss = await context.registry.create('loss', config.sslLoss as PluginRefConfig, { ...context, path: `${context.path}.sslLoss` });
    const modules = [...core.modules, named(projector, 'projector')];
    return {
      name: 'slip',
      trainableModules: () => modules,
      stateModules: () => modules,
      loss: (batch) =>
        tf.tidy(() => {
          const views = batch.views.slice(0, 3);
          const features = tf.split(core.imageFeatures(tf.concat(views, 0), true), views.length, 0) as Tensor2D[];
          const sslFeatures = views.length === 3 ? features.slice(1) : features;
          const z = tf.split(projector.apply(tf.concat(sslFeatures, 0), { training: true }), sslFeatures.length, 0) as Tensor2D[];
          const sslWeights = views.length === 3 ? undefined : batch.weights;
          const ssl = sslLoss.compute({ views: z, weights: sslWeights, negativeMask: batch.negativeMask });
          return tf.add(core.clipLoss(features[0], batch), tf.mul(ssl, config.sslWeight)) as Scalar;
        }),
      afterStep: () => core.afterStep(),
      encoder: () => core.encoder(),
      dispose: () => {
        core.dispose();
        projector.dispose();
      },
    };
  },
});
