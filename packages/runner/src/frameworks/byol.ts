import {
  type PluginRefConfig,
  type Scalar,
  backboneFeatures,
  buildBackbone,
  buildHead,
  copyModule,
  cosineMomentum,
  definePlugin,
  emaUpdate,
  forwardViews,
  inputShapeSchema,
  named,
  pluginRefSchema,
  stopGradient,
  type tf,
  z,
} from '@genview/core';

/**
 * BYOL (Grill et al., 2020): an online network with a predictor regresses a target network's
 * projection; the target follows the online weights by an EMA whose τ rises from base to 1 (cosine).
 */
export const byol = definePlugin({
  kind: 'framework',
  name: 'byol',
  package: '@genview/runner',
  description: 'BYOL: online encoder+projector+predictor, EMA target with cosine τ schedule, no negatives.',
  configSchema: z
    .object({
      inputShape: inputShapeSchema.optional(),
      backbone: pluginRefSchema.default('small-cnn'),
      projector: pluginRefSchema.default({ name: 'mlp-projector', hiddenDim: 512, outDim: 128 }),
      predictor: pluginRefSchema.default({ name: 'mlp-predictor', hiddenDim: 512 }),
      loss: pluginRefSchema.default({ name: 'negative-cosine', form: 'byol' }),
      /** Base EMA rate τ; it rises to 1 over training. */
      momentum: z.number().min(0).max(1).default(0.99),
    })
    .strict(),
  async create(config, context) {
    const shape = config.inputShape;
    const backbone = await buildBackbone(context, config.backbone as PluginRefConfig, shape);
    const projector = await buildHead(context, config.projector as PluginRefConfig, backbone.featureDim, `${context.path}.projector`);
    const predictor = await buildHead(context, withOutDim(config.predictor as PluginRefConfig, projector.outDim), projector.outDim, `${context.path}.predictor`);
    const targetBackbone = await buildBackbone(context, config.backbone as PluginRefConfig, shape, `${context.path}.targetBackbone`);
    const targetProjector = await buildHead(context, config.projector as PluginRefConfig, backbone.featureDim, `${context.path}.targetProjector`);
    copyModule(backbone, targetBackbone);
    copyModule(projector, targetProjector);
    const loss = await context.registry.create('loss', config.loss as PluginRefConfig, { ...context, path: `${context.path}.loss` });
    const online = [named(backbone, 'backbone'), named(projector, 'projector'), named(predictor, 'predictor')];
    return {
      name: 'byol',
      trainableModules: () => online,
      stateModules: () => [...online, named(targetBackbone, 'target_backbone'), named(targetProjector, 'target_projector')],
      loss: (batch) => {
        const predictions = forwardViews(batch.views, [backbone, projector, predictor], true);
        const targets = forwardViews(batch.views, [targetBackbone, targetProjector], true).map((t) => stopGradient(t) as tf.Tensor2D);
        return loss.compute({ views: predictions, predictions, targets, weights: batch.weights }) as Scalar;
      },
      afterStep: (_batch, step, totalSteps) => {
        const tau = cosineMomentum(config.momentum, step, totalSteps);
        emaUpdate(backbone, targetBackbone, tau);
        emaUpdate(projector, targetProjector, tau);
      },
      encoder: () => backboneFeatures(backbone),
      dispose: () => {
        for (const m of [backbone, projector, predictor, targetBackbone, targetProjector]) m.dispose();
      },
    };
  },
});

/** A predictor maps back to the projection size unless told otherwise. */
export function withOutDim(ref: PluginRefConfig, outDim: number): PluginRefConfig {
  const options: Record<string, unknown> & { name: string } = typeof ref === 'string' ? { name: ref } : { ...ref };
  if (options.outDim === undefined) options.outDim = outDim;
  return options;
}
