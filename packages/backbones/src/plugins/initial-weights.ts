import { type Backbone, type PluginContext, z } from '@genview/core';
import { loadTorchWeights } from '../torch-weights';

/** The `weights` option every image backbone plugin takes. */
export const initialWeightsSchema = z
  .string()
  .min(1)
  .optional()
  .describe('a safetensors file of PyTorch weights (torchvision/timm names and layouts; F32, F16, BF16 or F64) the backbone starts from');

/**
 * Loads `weights` into a freshly built backbone (built with `initialize: false` when weights are given:
 * the random draws would be overwritten). A training run then starts from them; a checkpoint loaded
 * later replaces them as usual.
 */
export async function withInitialWeights<B extends Backbone>(backbone: B, weights: string | undefined, context: PluginContext): Promise<B> {
  if (weights === undefined) return backbone;
  try {
    const report = await loadTorchWeights(weights, backbone);
    const dtypes = Object.entries(report.storedDtypes).map(([d, n]) => `${n} ${d}`).join(', ');
    const skipped = report.ignored.length ? `; skipped ${report.ignored.length} (classifier, counters)` : '';
    context.events.log(context.path, `${backbone.name}: ${report.loaded} tensors (${dtypes}) from ${weights}${report.prefix ? ` under "${report.prefix}"` : ''}${skipped}`);
    return backbone;
  } catch (error) {
    backbone.dispose();
    throw error;
  }
}
