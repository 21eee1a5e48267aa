import { GenviewError, Rng } from '@genview/core';

/**
 * The words and templates our diffusion model (tools/diffusion/tiny_unclip/data.py) was trained on.
 * They must stay identical to CLASS_WORDS and TEMPLATES there: text-conditioned generation only
 * understands the phrasing it saw, so captions are built on exactly these.
 */
export const FASHION_CLASS_WORDS = ['t-shirt', 'pair of trousers', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot'] as const;
export const FASHION_CAPTION_TEMPLATES = ['a photo of a {}', 'a {}', 'a grey {}', 'a picture of a {}', 'a small photo of a {}', 'a {} on a black background'] as const;

/** Pixels above this (of 255) count as ink. */
const INK_THRESHOLD = 25;

export interface FashionCaptionOptions {
  /** Add measured size and brightness words (default true); false gives the training captions verbatim. */
  attributes?: boolean;
  /** Seed of the per-index template choice (default 0). */
  seed?: number;
}

/** Ink coverage (share of ink pixels) and brightness (mean ink intensity in [0, 1]) of one image. */
export function measureFashionImage(pixels: Uint8Array, offset: number, length: number): { coverage: number; brightness: number } {
  let ink = 0;
  let sum = 0;
  for (let j = offset; j < offset + length; j++) {
    const v = pixels[j] as number;
    if (v > INK_THRESHOLD) {
      ink++;
      sum += v;
    }
  }
  return { coverage: ink / length, brightness: ink === 0 ? 0 : sum / ink / 255 };
}

/**
 * Two edges per class: a value below the first is in the class's lowest third, above the second in its
 * highest third (by rank, for distinct values); ties at an edge stay in the middle.
 */
function classTerciles(values: Float64Array, labels: ArrayLike<number>, classes: number): [number, number][] {
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < values.length; i++) byClass[labels[i] as number]?.push(values[i] as number);
  return byClass.map((list) => {
    if (list.length === 0) return [0, 0];
    const sorted = list.sort((a, b) => a - b);
    const third = Math.min(sorted.length - 1, Math.ceil(sorted.length / 3));
    return [sorted[third] as number, sorted[sorted.length - 1 - third] as number];
  });
}

/** Adjectives go before the colour word "grey" (size, brightness, colour, noun), as English orders them. */
export function fillFashionTemplate(template: string, word: string, adjectives: readonly string[]): string {
  const [before = '', after = ''] = template.split('{}');
  const extra = adjectives.length > 0 ? `${adjectives.join(' ')} ` : '';
  if (before.endsWith('grey ')) return `${before.slice(0, -'grey '.length)}${extra}grey ${word}${after}`;
  return `${before}${extra}${word}${after}`;
}

/** The template of image `index`: a function of (seed, index) alone. */
export function fashionTemplateFor(index: number, seed = 0): string {
  return FASHION_CAPTION_TEMPLATES[new Rng(seed).fork(`fashion-caption:${index}`).int(FASHION_CAPTION_TEMPLATES.length)] as string;
}

/**
 * Captions for Fashion-MNIST images: the model's training phrasing, plus size ("small"/"large") and
 * brightness ("dark"/"bright") where an image is in the lowest or highest third of its class. Relative
 * to the class because a small coat still covers more pixels than a large sandal; the middle third
 * says nothing, so each word is a real contrast. Thresholds come from every image given, so pass the
 * whole split and cut afterwards for captions that do not depend on a row limit.
 */
export function fashionCaptions(pixels: Uint8Array, imageLength: number, labels: ArrayLike<number>, options: FashionCaptionOptions = {}): string[] {
  const n = labels.length;
  if (pixels.length < n * imageLength) {
    throw new GenviewError('BAD_SHAPE', `${n} labels need ${n * imageLength} pixels, got ${pixels.length}.`, { where: 'fashionCaptions', fix: 'pass the images and labels of one split.' });
  }
  const classes = FASHION_CLASS_WORDS.length;
  for (let i = 0; i < n; i++) {
    const label = labels[i] as number;
    if (!(Number.isInteger(label) && label >= 0 && label < classes)) {
      throw new GenviewError('BAD_INPUT', `label ${i} is ${label}; Fashion-MNIST has classes 0..${classes - 1}.`, { where: 'fashionCaptions', fix: 'pass Fashion-MNIST labels.' });
    }
  }
  const withAttributes = options.attributes ?? true;
  const coverage = new Float64Array(n);
  const brightness = new Float64Array(n);
  if (withAttributes) {
    for (let i = 0; i < n; i++) {
      const m = measureFashionImage(pixels, i * imageLength, imageLength);
      coverage[i] = m.coverage;
      brightness[i] = m.brightness;
    }
  }
  const sizeEdges = classTerciles(coverage, labels, classes);
  const brightnessEdges = classTerciles(brightness, labels, classes);
  return Array.from({ length: n }, (_, i) => {
    const label = labels[i] as number;
    const adjectives: string[] = [];
    if (withAttributes) {
      const [small, large] = sizeEdges[label] as [number, number];
      const [dark, bright] = brightnessEdges[label] as [number, number];
      const c = coverage[i] as number;
      const b = brightness[i] as number;
      if (c < small) adjectives.push('small');
      else if (c > large) adjectives.push('large');
      if (b < dark) adjectives.push('dark');
      else if (b > bright) adjectives.push('bright');
    }
    return fillFashionTemplate(fashionTemplateFor(i, options.seed), FASHION_CLASS_WORDS[label] as string, adjectives);
  });
}
