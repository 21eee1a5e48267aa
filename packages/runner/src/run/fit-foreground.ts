import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { EventBus, GenviewError, type PluginRef, type Registry, Rng, selectBackend } from '@genview/core';
import { type ForegroundDirection, fitForegroundDirectionOnDataset, saveForegroundDirection } from '@genview/quality';
import type { RunConfig } from '../config/schema';
import { createRegistryWithPlugins } from '../config/plugins';
import { createRunnerServices } from './services';

export interface FitForegroundRunOptions {
  /** A patch-token encoder name the runner resolves: checkpoint:<run dir>, safetensors:<file>, random:<seed>, onnx:<file.onnx>[?options] (any ONNX image model with a token or map output) or onnx:<folder> (an ONNX image tower with patch_tokens). */
  encoder: string;
  /** Where the direction is written (safetensors). */
  out: string;
  /** Fit on the first N images of data.train. */
  images?: number;
  /** Share of patch tokens the threshold marks as foreground; GenView's 0.4 by default. */
  foregroundFraction?: number;
  events?: EventBus;
  registry?: Registry;
}

export interface FitForegroundRunResult {
  direction: ForegroundDirection;
  out: string;
  images: number;
  seconds: number;
}

export const DEFAULT_FIT_IMAGES = 2000;

/**
 * `genview fit-foreground`: GenView's foreground direction (first principal component of the encoder's
 * patch tokens, threshold at a foreground share) fitted on data.train and written for the
 * genview-fg-bg scorer and the adaptive-noise conditioning.
 */
export async function fitForegroundFromConfig(config: RunConfig, options: FitForegroundRunOptions): Promise<FitForegroundRunResult> {
  const limit = options.images ?? DEFAULT_FIT_IMAGES;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new GenviewError('INVALID_CONFIG', `the number of images must be a positive integer, got ${limit}.`, {
      where: '--images',
      fix: 'pass e.g. --images 2000.',
    });
  }
  const events = options.events ?? new EventBus();
  const registry = options.registry ?? (await createRegistryWithPlugins(config.plugins));
  await selectBackend({ events });
  const started = performance.now();
  const dataset = await registry.create('dataset', config.data.train as PluginRef, { rng: new Rng(config.seed), events, path: 'data.train' });
  const services = createRunnerServices({ config, imageShape: dataset.info.imageShape, registry, events });
  try {
    const extractor = await services.patchTokenEncoder(options.encoder);
    const count = Math.min(limit, dataset.info.size);
    const direction = await fitForegroundDirectionOnDataset(dataset, extractor, {
      indices: Int32Array.from({ length: count }, (_, i) => i),
      foregroundFraction: options.foregroundFraction,
      events,
    });
    mkdirSync(dirname(options.out), { recursive: true });
    await saveForegroundDirection(options.out, direction);
    return { direction, out: options.out, images: count, seconds: (performance.now() - started) / 1000 };
  } finally {
    services.dispose();
  }
}
