import {
  type Backbone,
  type Framework,
  GenviewError,
  type Head,
  type Loss,
  type PluginRef,
  type PluginRefConfig,
  type PriorKernel,
  type Registry,
  type Scalar,
  type Tensor2D,
  backboneFeatures,
  buildBackbone,
  buildHead,
  definePlugin,
  forwardViews,
  inputShapeSchema,
  named,
  pluginRefSchema,
  tf,
  z,
} from '@genview/core';
import type { RunConfig } from '../config/schema';
import { checkPriorEncoderName } from '../prior/encoder-name';
import type { PriorFeatures } from '../prior/features';
import { namedPriorEncoder, unavailablePrior } from '../prior/named';
import { buildPriorFeatures, priorSourceSchema } from '../prior/source';

export interface DecoupledParts {
  backbone: Backbone;
  projector: Head;
  loss: Loss;
  /** Prior knowledge: per-sample features keyed by dataset index, and the kernel that compares them. */
  prior?: { features: PriorFeatures; kernel: PriorKernel };
}

/**
 * A shared encoder and projector whose loss may take prior knowledge as a kernel over the batch
 * (decoupled uniformity's conditional mean embedding). Usable from code with any PriorFeatures (an
 * ONNX or generative encoder's features, metadata), not only the sources the config names.
 */
export function createDecoupledFramework(parts: DecoupledParts, where = 'framework'): Framework {
  const { backbone, projector, loss, prior } = parts;
  if (loss.requires.includes('kernel') && !prior) {
    throw new GenviewError('INVALID_CONFIG', `loss ${loss.name} needs a prior kernel but no prior is configured.`, {
      where: `${where}.prior`,
      fix: 'set prior.source and prior.kernel.',
    });
  }
  return {
    name: 'decoupled',
    trainableModules: () => [named(backbone, 'backbone'), named(projector, 'projector')],
    stateModules: () => [named(backbone, 'backbone'), named(projector, 'projector')],
    loss: (batch) => {
      const z = forwardViews(batch.views, [backbone, projector], true);
      // The kernel depends on the prior alone, never on trainable variables, so no gradient flows into it;
      // like z it is an intermediate of the step, released by the trainer's tape scope.
      const kernel = prior ? tf.tidy(() => prior.kernel.matrix(prior.features.featuresFor(batch.indices)) as Tensor2D) : undefined;
      return loss.compute({ views: z, weights: batch.weights, negativeMask: batch.negativeMask, kernel }) as Scalar;
    },
    encoder: () => backboneFeatures(backbone),
    dispose: () => {
      backbone.dispose();
      projector.dispose();
    },
  };
}

/** Decoupled uniformity (Dufumier et al., ICML 2023), optionally with a prior kernel from weak attributes, a frozen encoder or a generative model. */
export const decoupled = definePlugin({
  kind: 'framework',
  name: 'decoupled',
  package: '@genview/runner',
  description:
    'Shared encoder and MLP projector trained with decoupled uniformity; an optional prior (weak attributes, frozen-encoder features, the image encoder of a generative model, or a features file) enters the loss as a kernel over the batch.',
  configSchema: z
    .object({
      inputShape: inputShapeSchema.optional(),
      backbone: pluginRefSchema.default('small-cnn'),
      projector: pluginRefSchema.default({ name: 'mlp-projector', hiddenDim: 512, outDim: 128 }),
      loss: pluginRefSchema.default({ name: 'decoupled-uniformity', t: 2 }),
      prior: z
        .object({
          /**
           * kind: attributes | encoder (pixels, a backbone, or onnx:<file> / checkpoint:<other run>) |
           * generative (an ONNX unCLIP pipeline's image encoder) | file.
           */
          source: priorSourceSchema,
          /** A 'kernel' plugin: rbf {sigma}, cosine, attributes {mode}. */
          kernel: pluginRefSchema.default('rbf'),
        })
        .strict()
        .optional(),
    })
    .strict(),
  async create(config, context) {
    const backbone = await buildBackbone(context, config.backbone as PluginRefConfig, config.inputShape);
    const projector = await buildHead(context, config.projector as PluginRefConfig, backbone.featureDim, `${context.path}.projector`);
    const loss = await context.registry.create('loss', config.loss as PluginRefConfig, { ...context, path: `${context.path}.loss` });
    let prior: DecoupledParts['prior'];
    if (config.prior) {
      const where = `${context.path}.prior.source`;
      const named = namedPriorEncoder(config.prior.source);
      // Rebuilt for its weights alone (checkpoint:<run>, genview export) the host lends no extractor service.
      const features =
        named !== undefined && !context.services?.featureExtractor
          ? unavailablePrior(named, where)
          : await buildPriorFeatures(config.prior.source, { ...context, path: where });
      const kernel = await context.registry.create('kernel', config.prior.kernel as PluginRefConfig, { ...context, path: `${context.path}.prior.kernel` });
      prior = { features, kernel };
    }
    return createDecoupledFramework({ backbone, projector, loss, prior }, context.path);
  },
});

/**
 * Preflight for a decoupled run whose prior names an encoder: the name's form, and not this run's own
 * checkpoint (which only the whole config, with its outDir, can tell).
 */
export function preflightDecoupled(config: RunConfig, registry: Registry): void {
  const framework = config.framework as PluginRef;
  if (typeof framework === 'string' || registry.resolve('framework', framework.name, 'framework').name !== 'decoupled') return;
  const source = (framework as { prior?: { source?: { kind?: unknown; encoder?: unknown } } }).prior?.source;
  const named = source && typeof source.kind === 'string' ? namedPriorEncoder(source as { kind: string; encoder?: unknown }) : undefined;
  if (named !== undefined) checkPriorEncoderName(named, 'framework.prior.source.encoder', config.outDir);
}
