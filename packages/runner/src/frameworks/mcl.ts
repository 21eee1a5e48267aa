import {
  type Framework,
  GenviewError,
  type PluginRef,
  type PluginRefConfig,
  type Scalar,
  type ViewBatch,
  definePlugin,
  inputShapeSchema,
  pluginRefSchema,
  tf,
  z,
} from '@genview/core';
import { negativeMaskFromLabels } from '../mcl/pseudo-labels';

/** The mcl framework's instance: its inner framework plus the pseudo labels that restrict negatives. */
export interface MclFramework extends Framework {
  readonly negatives: 'mask' | 'sampler';
  /** Per-sample pseudo labels over the training set (index order); undefined = ordinary training (stage 0). */
  setPseudoLabels(labels: Int32Array | undefined): void;
  pseudoLabels(): Int32Array | undefined;
  readonly inner: Framework;
}

export function isMclFramework(framework: Framework): framework is MclFramework {
  return typeof (framework as Partial<MclFramework>).setPseudoLabels === 'function';
}

/**
 * MCL (multistage contrastive learning) for one stage: wraps an InfoNCE-style framework and restricts
 * each anchor's negatives to samples that share its pseudo label (its cluster at every earlier stage).
 * With negatives: 'mask' the batch is mixed and the inner loss gets ViewBatch.negativeMask built from the
 * batch's pseudo labels; with 'sampler' the driver fills each batch from one label (upstream's sampler),
 * so no mask is needed. In both, ViewBatch.negativeGroups carries the batch's labels, so frameworks
 * that keep negatives across steps (MoCo's queue) restrict those too. The stages themselves are run by
 * runMultistage().
 */
export const mcl = definePlugin({
  kind: 'framework',
  name: 'mcl',
  package: '@genview/runner',
  description: "MCL stage: an inner InfoNCE framework whose negatives are restricted to the anchor's pseudo label (mask or one-label batches).",
  configSchema: z
    .object({
      inputShape: inputShapeSchema.optional(),
      inner: pluginRefSchema.default('simclr'),
      negatives: z.enum(['mask', 'sampler']).default('mask'),
    })
    .strict(),
  async create(config, context) {
    const given = config.inner as PluginRefConfig;
    const innerRef: Record<string, unknown> & { name: string } = typeof given === 'string' ? { name: given } : { ...(given as { name: string }) };
    if (innerRef.name === 'mcl') {
      throw new GenviewError('INVALID_CONFIG', 'mcl cannot wrap itself.', { where: `${context.path}.inner`, fix: 'name an InfoNCE-style framework, e.g. simclr.' });
    }
    const innerSchema = context.registry.resolve('framework', innerRef.name, `${context.path}.inner`).configSchema as { shape?: Record<string, unknown> };
    if (config.inputShape && innerSchema.shape && 'inputShape' in innerSchema.shape && innerRef.inputShape === undefined) innerRef.inputShape = config.inputShape;
    const inner = await context.registry.create('framework', innerRef as PluginRef, { rng: context.rng, events: context.events, services: context.services, path: `${context.path}.inner` });
    let labels: Int32Array | undefined;

    /** The batch's pseudo labels, or undefined while there are none (stage 0). */
    const batchLabels = (batch: ViewBatch): Int32Array | undefined => {
      if (!labels) return undefined;
      return Int32Array.from(batch.indices, (i) => {
        const label = labels![i];
        if (label === undefined) {
          throw new GenviewError('BAD_INPUT', `sample ${i} has no pseudo label (labels cover ${labels!.length} samples).`, {
            where: `${context.path}.pseudoLabels`,
            fix: 'set pseudo labels for the dataset the trainer reads.',
          });
        }
        return label;
      });
    };

    // The labels go on the batch as negativeGroups in both modes: one-label batches (sampler) need no
    // batch mask, but a queue of past keys (MoCo) still holds other labels' keys.
    const restrict = (batch: ViewBatch): ViewBatch => {
      const groups = batchLabels(batch);
      if (!groups) return batch;
      if (batch.negativeGroups) {
        throw new GenviewError('INVALID_CONFIG', 'the batch already has negative groups; mcl cannot combine two groupings.', {
          where: context.path,
          fix: 'restrict negatives in one place only.',
        });
      }
      if (config.negatives === 'sampler') return { ...batch, negativeGroups: groups };
      const mask = negativeMaskFromLabels(groups);
      if (!batch.negativeMask) return { ...batch, negativeMask: mask, negativeGroups: groups };
      // Someone upstream restricted batch negatives too: a pair must pass both.
      const both = tf.mul(mask, batch.negativeMask) as tf.Tensor2D;
      mask.dispose();
      return { ...batch, negativeMask: both, negativeGroups: groups };
    };

    const framework: MclFramework = {
      name: 'mcl',
      negatives: config.negatives,
      inner,
      setPseudoLabels: (next) => {
        labels = next ? Int32Array.from(next) : undefined;
      },
      pseudoLabels: () => labels,
      trainableModules: () => inner.trainableModules(),
      stateModules: () => inner.stateModules(),
      loss: (batch, step) => tf.tidy(() => inner.loss(restrict(batch), step) as Scalar),
      ...(inner.afterStep ? { afterStep: (batch: ViewBatch, step: number, total: number) => inner.afterStep!(batch, step, total) } : {}),
      encoder: () => inner.encoder(),
      dispose: () => inner.dispose(),
    };
    return framework;
  },
});
