import { type Augmentation, GenviewError, type ImageShape, type PluginContext, type Registry } from '@genview/core';
import { type AugmentationPresetName, ViewPipeline, presetFor } from '@genview/views';
import type { RunConfig } from '../config/schema';

/** One augmentation pipeline per view, from a named preset or explicit lists of augment plugins. */
export async function buildViewPipelines(
  views: RunConfig['views'],
  registry: Registry,
  imageShape: ImageShape,
  context: Omit<PluginContext, 'registry' | 'path'>,
): Promise<Augmentation[]> {
  if (views.preset && views.pipelines) {
    throw new GenviewError('INVALID_CONFIG', 'views.preset and views.pipelines are both set.', { where: 'views', fix: 'keep one of them.' });
  }
  const lists = views.pipelines ?? presetFor((views.preset ?? 'simclr') as AugmentationPresetName, [imageShape[0], imageShape[1]]);
  const pipelines: Augmentation[] = [];
  for (const [v, list] of lists.entries()) {
    const steps: Augmentation[] = [];
    for (const [i, ref] of list.entries()) {
      steps.push(await registry.create('augment', ref, { ...context, path: `views.pipelines[${v}][${i}]` }));
    }
    pipelines.push(new ViewPipeline(steps));
  }
  return pipelines;
}
