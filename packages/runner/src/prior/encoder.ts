import type { Dataset, EventBus, FeatureExtractor } from '@genview/core';
import { extractFeatures } from '@genview/eval';
import { type PriorFeatures, tablePrior } from './features';

export interface EncoderPriorOptions {
  /** Images per encoder call. */
  batchSize?: number;
  events?: EventBus;
}

/**
 * Prior features from any frozen encoder (an ONNX encoder, a generative model's encoder, a random or
 * pretrained backbone, raw pixels), run once over the whole dataset before training and kept in JS
 * memory. The encoder is a FeatureExtractor, so any model that embeds images plugs in.
 */
export async function encoderPrior(dataset: Dataset, encoder: FeatureExtractor, options: EncoderPriorOptions = {}, where = 'prior'): Promise<PriorFeatures> {
  const set = await extractFeatures(encoder, dataset, { batchSize: options.batchSize ?? 256, events: options.events, task: 'prior features' });
  return tablePrior(set.features, set.dim, where);
}
