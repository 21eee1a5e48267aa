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
  stopGradient,
  type tf,
  z,
} from '@genview/core';
import { withOutDim } from './byol';

/**
 * SimSiam (Chen & He, 2021): one network, a predictor on one side and a stop-gradient on the other;
 * no negatives and no momentum encoder.
 */
export const simsiam = definePlugin({
  kind: 'framework',
  name: 'simsiam',
  package: '@genview/runner',
  description: 'SimSiam: shared encoder+projector, predictor, stop-gradient on the target branch.',
  configSchema: z
    .object({
      inputShape: inputShapeSchema.optional(),
      backbone: pluginRefSchema.default('small-cnn'),
      projector: pluginRefSchema.default({ name: 'mlp-projector', hiddenDim: 512, outDim: 512, layers: 3, lastBatchNorm: true }),
      predictor: pluginRefSchema.default({ name: 'mlp-predictor', hiddenDim: 128 }),
      loss: pluginRefSchema.default({ name: 'negative-cosine', form: 'simsiam' }),
    })
    .strict(),
  async create(config, context) {
    const backbone = await buildBackbone(context, config.backbone as PluginRefConfig, config.inputShape);
    const projector = await buildHead(context, config.projector as PluginRefConfig, backbone.featureDim, `${context.path}.projector`);
    const predictor = await buildHead(context, withOutDim(config.predictor as PluginRefConfig, projector.outDim), projector.outDim, `${context.path}.predictor`);
    const loss = await context.registry.create('loss', config.loss as PluginRefConfig, { ...context, path: `${context.path}.loss` });
    const modules = [named(backbone, 'backbone'), named(projector, 'projector'), named(predictor, 'predictor')];
    return {
      name: 'simsiam',
      trainableModules: () => modules,
      stateModules: () => modules,
      loss: (batch) => {
        const projections = forwardViews(batch.views, [backbone, projector], true);
        const predictions = projections.map((z) => predictor.apply(z, { training: true }) as tf.Tensor2D);
        const targets = projections.map((z) => stopGradient(z) as tf.Tensor2D);
        return loss.compute({ views: projections, predictions, targets, weights: batch.weights }) as Scalar;
      },
      encoder: () => backboneFeatures(backbone),
      dispose: () => {
        for (const m of [backbone, projector, predictor]) m.dispose();
      },
    };
  },
});
