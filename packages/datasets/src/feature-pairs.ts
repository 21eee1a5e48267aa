import { type Dataset, GenviewError, Rng } from '@genview/core';
import { type ColoredDigitSpec, renderColoredDigit, sampleColoredDigitSpec } from './colored-digits';
import { samplePose } from './digit-glyphs';
import { InMemoryDataset } from './in-memory';

export interface FeaturePairsOptions {
  pairs: number;
  /** The one feature the two members of a pair differ in. */
  feature: 'digit' | 'color';
  size?: number;
  seed?: number;
  colors?: number;
  colorNoise?: number;
  colorTarget?: 'foreground' | 'background';
}

export interface FeaturePairs {
  /** Row i of each forms pair i. */
  members: [Dataset, Dataset];
  /** Each member re-drawn in a new pose (same digit, colour and tint): what an encoder must match. */
  queries: [Dataset, Dataset];
}

/**
 * MMVP-style pairs of coloured digits (Tong et al. 2024, made by code): the two members of a pair share
 * everything (pose, stroke, tint) but one feature, the digit or the colour. Queries re-draw each member
 * in a new pose, so matching a query to its member needs exactly that feature. Score with eval's pairProbe.
 */
export function coloredDigitPairs(options: FeaturePairsOptions): FeaturePairs {
  const { pairs, feature, size = 28, seed = 0, colors = 10, colorNoise = 0.05, colorTarget = 'foreground' } = options;
  if (feature === 'color' && colors < 2) {
    throw new GenviewError('INVALID_CONFIG', 'colour pairs need at least 2 colours.', { where: 'coloredDigitPairs.colors', fix: 'set colors ≥ 2.' });
  }
  const rng = new Rng(seed);
  const len = size * size * 3;
  const images = [0, 1, 2, 3].map(() => new Float32Array(pairs * len));
  const stroke = new Float32Array(size * size);
  for (let i = 0; i < pairs; i++) {
    const a = sampleColoredDigitSpec(rng, colors, colorNoise);
    const b: ColoredDigitSpec = { ...a };
    if (feature === 'digit') b.digit = (a.digit + 1 + rng.int(9)) % 10;
    else b.color = (a.color + 1 + rng.int(colors - 1)) % colors;
    const pose = samplePose(rng);
    const specs = [a, b, { ...a, pose }, { ...b, pose }];
    for (const [j, spec] of specs.entries()) renderColoredDigit(spec, size, colorTarget, images[j], i * len, stroke);
  }
  const names = ['a', 'b', 'query-a', 'query-b'];
  const sets = images.map((px, j) => new InMemoryDataset(px, [pairs, size, size, 3], { name: `colored-digit-pairs/${feature}/${names[j]}` }));
  return { members: [sets[0], sets[1]], queries: [sets[2], sets[3]] };
}
