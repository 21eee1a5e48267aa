import { type Augmentation, GenviewError, type PluginRef, closestNames } from '@genview/core';
import { ColorJitter } from './color-jitter';
import { GaussianBlur } from './gaussian-blur';
import { HorizontalFlip } from './horizontal-flip';
import { ViewPipeline } from './pipeline';
import { RandomGrayscale } from './random-grayscale';
import { RandomResizedCrop } from './random-resized-crop';
import { Solarize } from './solarize';

type Factory = (options: Record<string, unknown>, where: string) => Augmentation;

/** This package's augmentations by plugin name, for building views without a registry. */
const factories: Record<string, Factory> = {
  'random-resized-crop': (o, w) => new RandomResizedCrop(o, w),
  'horizontal-flip': (o, w) => new HorizontalFlip(o, w),
  'color-jitter': (o, w) => new ColorJitter(o, w),
  'random-grayscale': (o, w) => new RandomGrayscale(o, w),
  'gaussian-blur': (o, w) => new GaussianBlur(o, w),
  solarize: (o, w) => new Solarize(o, w),
};

/**
 * Builds one of this package's augmentations from a plugin reference ("name", "@genview/views:name" or
 * { name, ...options }) without a registry; a runner with third-party plugins uses its Registry instead.
 */
export function augmentationFromRef(ref: PluginRef, where = 'augment'): Augmentation {
  const { name: fullName, ...options } = typeof ref === 'string' ? { name: ref } : ref;
  const name = String(fullName).replace(/^(@genview\/)?views:/, '');
  const factory = factories[name];
  if (!factory) {
    const known = Object.keys(factories);
    const close = closestNames(name, known);
    throw new GenviewError('UNKNOWN_PLUGIN', `no @genview/views augmentation named "${String(fullName)}".`, {
      where,
      fix: `${close.length ? `did you mean ${close.map((c) => `"${c}"`).join(', ')}? ` : ''}known: ${known.join(', ')}.`,
    });
  }
  return factory(options, `${where}.${name}`);
}

/** A pipeline from a list of references, e.g. one view of a preset. */
export function pipelineFromRefs(refs: readonly PluginRef[], name = 'view'): ViewPipeline {
  return new ViewPipeline(
    refs.map((ref, i) => augmentationFromRef(ref, `${name}[${i}]`)),
    name,
  );
}
