import { GenviewError, type PluginRef } from '@genview/core';
import { type SizeOption, toHW } from './common';
import { pipelineFromRefs } from './from-ref';
import { defaultKernelSize } from './gaussian-blur';
import type { ViewPipeline } from './pipeline';

export interface AugmentationPreset {
  description: string;
  /** One list of augmentation references per view, applied in order. */
  views: PluginRef[][];
}

const crop = (scaleMin: number): PluginRef => ({ name: 'random-resized-crop', scale: [scaleMin, 1], ratio: [3 / 4, 4 / 3] });
const flip: PluginRef = { name: 'horizontal-flip', p: 0.5 };
const jitter = (saturation: number): PluginRef => ({ name: 'color-jitter', brightness: 0.4, contrast: 0.4, saturation, hue: 0.1, p: 0.8 });
const gray: PluginRef = { name: 'random-grayscale', p: 0.2 };
const blur = (p: number): PluginRef => ({ name: 'gaussian-blur', p, sigma: [0.1, 2] });
const solarize = (p: number): PluginRef => ({ name: 'solarize', p, threshold: 0.5 });

/**
 * The published view recipes as plain data (size-free: the crop keeps the input size and the blur
 * kernel scales to ~10% of it unless presetFor() fills them in). Jitter strengths are the s = 0.5
 * setting used by the reference CIFAR/ImageNet code (brightness, contrast, saturation 0.4, hue 0.1);
 * solo-learn's SimCLR configs use saturation 0.2 instead.
 */
export const augmentationPresets = {
  simclr: {
    description:
      'SimCLR (Chen et al. 2020): crop scale 0.08-1, flip, color jitter p=0.8 (0.4, 0.4, 0.4, 0.1), grayscale p=0.2, blur p=0.5; both views alike.',
    views: [
      [crop(0.08), flip, jitter(0.4), gray, blur(0.5)],
      [crop(0.08), flip, jitter(0.4), gray, blur(0.5)],
    ],
  },
  'moco-v2': {
    description: 'MoCo v2 (Chen et al. 2020): crop scale 0.2-1, color jitter p=0.8 (0.4, 0.4, 0.4, 0.1), grayscale p=0.2, blur p=0.5, flip; both views alike.',
    views: [
      [crop(0.2), jitter(0.4), gray, blur(0.5), flip],
      [crop(0.2), jitter(0.4), gray, blur(0.5), flip],
    ],
  },
  byol: {
    description:
      'BYOL (Grill et al. 2020), asymmetric: crop 0.08-1, flip, color jitter p=0.8 (0.4, 0.4, 0.2, 0.1), grayscale p=0.2; view 1 blur p=1.0, no solarize; view 2 blur p=0.1, solarize p=0.2.',
    views: [
      [crop(0.08), flip, jitter(0.2), gray, blur(1), solarize(0)],
      [crop(0.08), flip, jitter(0.2), gray, blur(0.1), solarize(0.2)],
    ],
  },
} as const satisfies Record<string, AugmentationPreset>;

export type AugmentationPresetName = keyof typeof augmentationPresets;

/**
 * A preset's views for a given output size: the crop gets `size`, and the blur kernel is set to ~10%
 * of it (odd, at least 3: 3 for 28x28, 23 for 224x224) as in SimCLR. Returns fresh copies.
 */
export function presetFor(name: AugmentationPresetName, size: SizeOption): PluginRef[][] {
  const preset = (augmentationPresets as Record<string, AugmentationPreset>)[name];
  if (!preset) {
    throw new GenviewError('INVALID_CONFIG', `no augmentation preset named "${String(name)}".`, {
      where: 'preset',
      fix: `use one of: ${Object.keys(augmentationPresets).join(', ')}.`,
    });
  }
  const [h, w] = toHW(size);
  if (!(Number.isInteger(h) && h > 0 && Number.isInteger(w) && w > 0)) {
    throw new GenviewError('INVALID_CONFIG', `size must be a positive integer or [height, width], got ${JSON.stringify(size)}.`, { where: 'preset.size' });
  }
  return preset.views.map((view) =>
    view.map((ref) => {
      const copy = JSON.parse(JSON.stringify(ref)) as Exclude<PluginRef, string>;
      if (copy.name === 'random-resized-crop') copy.size = h === w ? h : [h, w];
      if (copy.name === 'gaussian-blur') copy.kernelSize = defaultKernelSize(h, w);
      return copy;
    }),
  );
}

/** The preset's views as ready pipelines (no registry needed). */
export function presetPipelines(name: AugmentationPresetName, size: SizeOption): ViewPipeline[] {
  return presetFor(name, size).map((refs, i) => pipelineFromRefs(refs, `${name}.view${i + 1}`));
}
