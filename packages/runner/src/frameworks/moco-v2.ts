import {
  type PluginRefConfig,
  type Scalar,
  backboneFeatures,
  buildBackbone,
  buildHead,
  copyModule,
  definePlugin,
  emaUpdate,
  forwardViews,
  inputShapeSchema,
  l2Normalize,
  named,
  pluginRefSchema,
  stopGradient,
  tf,
  z,
} from '@genview/core';
import { KeyQueue } from './queue';

/**
 * MoCo v2 (Chen et al., 2020): a query encoder trained by gradient, a key encoder that follows it by
 * momentum, and a queue of past keys as negatives. On one process, batch norm is not shuffled
 * (the key encoder sees each view's batch as is). With ViewBatch.negativeGroups (MCL) the queue keeps
 * each key's group and a query's negatives are the queued keys of its own group.
 */
export const mocoV2 = definePlugin({
  kind: 'framework',
  name: 'moco-v2',
  package: '@genview/runner',
  description: 'MoCo v2: momentum key encoder, queue of negatives, InfoNCE against the queue.',
  configSchema: z
    .object({
      inputShape: inputShapeSchema.optional(),
      backbone: pluginRefSchema.default('small-cnn'),
      projector: pluginRefSchema.default({ name: 'mlp-projector', hiddenDim: 512, outDim: 128, batchNorm: false }),
      loss: pluginRefSchema.default({ name: 'moco-queue', temperature: 0.2, symmetric: true }),
      queueSize: z.number().int().positive().default(4096),
      /** Key encoder momentum m in k ← m·k + (1−m)·q. */
      momentum: z.number().min(0).max(1).default(0.99),
    })
    .strict(),
  async create(config, context) {
    const shape = config.inputShape;
    const backbone = await buildBackbone(context, config.backbone as PluginRefConfig, shape);
    const projector = await buildHead(context, config.projector as PluginRefConfig, backbone.featureDim, `${context.path}.projector`);
    const keyBackbone = await buildBackbone(context, config.backbone as PluginRefConfig, shape, `${context.path}.keyBackbone`);
    const keyProjector = await buildHead(context, config.projector as PluginRefConfig, backbone.featureDim, `${context.path}.keyProjector`);
    copyModule(backbone, keyBackbone);
    copyModule(projector, keyProjector);
    const loss = await context.registry.create('loss', config.loss as PluginRefConfig, { ...context, path: `${context.path}.loss` });
    const probe = tf.tidy(() => projector.apply(tf.zeros([2, backbone.featureDim]), { training: false }));
    const queue = new KeyQueue(config.queueSize, probe.shape[1] as number, context.rng.fork('queue'));
    probe.dispose();
    let lastKeys: tf.Tensor2D | null = null;
    // The groups of lastKeys, enqueued with them (null: no groups given, the slots become unknown).
    let lastGroups: Int32Array | null = null;

    return {
      name: 'moco-v2',
      trainableModules: () => [named(backbone, 'backbone'), named(projector, 'projector')],
      stateModules: () => [
        named(backbone, 'backbone'),
        named(projector, 'projector'),
        named(keyBackbone, 'key_backbone'),
        named(keyProjector, 'key_projector'),
        queue,
      ],
      loss: (batch) => {
        const queries = forwardViews(batch.views, [backbone, projector], true).map((q) => l2Normalize(q, 1) as tf.Tensor2D);
        const keys = forwardViews(batch.views, [keyBackbone, keyProjector], true).map(
          (k) => stopGradient(l2Normalize(k, 1)) as tf.Tensor2D,
        );
        lastKeys?.dispose();
        lastKeys = tf.keep(tf.clone(keys[1]));
        lastGroups = batch.negativeGroups ? Int32Array.from(batch.negativeGroups) : null;
        // The queue holds the negatives here, so the groups restrict the queue (negativeMask has no batch
        // negatives to act on in MoCo; it is passed on for losses that have some).
        const queueNegativeMask = batch.negativeGroups ? queue.groupMask(batch.negativeGroups) : undefined;
        return loss.compute({
          views: queries,
          targets: keys,
          queue: queue.negatives,
          weights: batch.weights,
          negativeMask: batch.negativeMask,
          queueNegativeMask,
        }) as Scalar;
      },
      afterStep: () => {
        emaUpdate(backbone, keyBackbone, config.momentum);
        emaUpdate(projector, keyProjector, config.momentum);
        if (lastKeys) {
          queue.enqueue(lastKeys, lastGroups ?? undefined);
          lastKeys.dispose();
          lastKeys = null;
          lastGroups = null;
        }
      },
      encoder: () => backboneFeatures(backbone),
      dispose: () => {
        for (const m of [backbone, projector, keyBackbone, keyProjector, queue]) m.dispose();
        lastKeys?.dispose();
      },
    };
  },
});
