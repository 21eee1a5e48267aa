import {
  type PluginRefConfig,
  type Scalar,
  backboneFeatures,
  buildBackbone,
  buildHead,
  definePlugin,
  forwardViews,
  inputShapeSchema,
  named,
  pluginRefSchema,
  z,
} from '@genview/core';

/** SimCLR: one encoder + projector for all views, NT-Xent over the 2N batch (Chen et al., 2020). */
export const simclr = definePlugin({
  kind: 'framework',
  name: 'simclr',
  package: '@genview/runner',
  description: 'SimCLR: shared encoder and MLP projector, NT-Xent with in-batch negatives.',
  configSchema: z
    .object({
      inputShape: inputShapeSchema.optional(),
      backbone: pluginRefSchema.default('small-cnn'),
      projector: pluginRefSchema.default({ name: 'mlp-projector', hiddenDim: 512, outDim: 128 }),
      loss: pluginRefSchema.default({ name: 'nt-xent', temperature: 0.5 }),
    })
    .strict(),
  async create(config, context) {
    const backbone = await buildBackbone(context, config.backbone as PluginRefConfig, config.inputShape);
    const projector = await buildHead(context, config.projector as PluginRefConfig, backbone.featureDim, `${context.path}.projector`);
    const loss = await context.registry.create('loss', config.loss as PluginRefConfig, { ...context, path: `${context.path}.loss` });
    return {
      name: 'simclr',
      trainableModules: () => [named(backbone, 'backbone'), named(projector, 'projector')],
      stateModules: () => [named(backbone, 'backbone'), named(projector, 'projector')],
      loss: (batch) => {
        const z = forwardViews(batch.views, [backbone, projector], true);
        return loss.compute({ views: z, weights: batch.weights, negativeMask: batch.negativeMask }) as Scalar;
      },
      encoder: () => backboneFeatures(backbone),
      dispose: () => {
        backbone.dispose();
        projector.dispose();
      },
    };
  },
});
