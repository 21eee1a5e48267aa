import { type Dataset, GenviewError, type PluginContext } from '@genview/core';
import { encoderPrior } from './encoder';
import { checkPriorEncoderName } from './encoder-name';
import type { PriorFeatures } from './features';

/**
 * The features of a named frozen encoder (onnx:<file>, checkpoint:<run>), resolved by the host's
 * feature-extractor service (the runner's createRunnerServices, the same resolver eval.encoder and the
 * quality scorers use, which builds each name once per run), run once over the dataset before training
 * and kept in JS memory, one row per dataset index, as the generative prior is.
 */
export async function namedEncoderPrior(
  data: Dataset,
  name: string,
  options: { batchSize: number },
  context: Pick<PluginContext, 'services' | 'events'>,
  where: string,
): Promise<PriorFeatures> {
  checkPriorEncoderName(name, `${where}.encoder`);
  const services = context.services;
  if (!services?.featureExtractor) throw missingServices(name, where);
  const encoder = await services.featureExtractor(name);
  return encoderPrior(data, encoder, { batchSize: options.batchSize, events: context.events }, where);
}

export function missingServices(name: string, where: string): GenviewError {
  return new GenviewError('INVALID_CONFIG', `the prior encoder "${name}" is resolved by the host's feature-extractor service, and this framework was built without one.`, {
    where: `${where}.encoder`,
    fix: 'train through genview train / trainFromConfig, or pass services: createRunnerServices({ ... }) in the context that builds the framework.',
  });
}

/** The encoder name a prior source resolves through the host's services, if it names one. */
export function namedPriorEncoder(source: { kind: string; encoder?: unknown }): string | undefined {
  return source.kind === 'encoder' && typeof source.encoder === 'string' && source.encoder !== 'pixels' ? source.encoder : undefined;
}

/**
 * Stands in for a named-encoder prior in a framework built only for its weights (a checkpoint read
 * back, an export), where the host has no feature-extractor service: the prior feeds the loss alone,
 * so the encoder still works, and a training step says why it cannot run.
 */
export function unavailablePrior(name: string, where: string): PriorFeatures {
  return {
    dim: 0,
    count: 0,
    featuresFor(): never {
      throw missingServices(name, where);
    },
  };
}
