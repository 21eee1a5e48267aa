import { describe, expect, it } from 'vitest';
import { coloredDigitPairs, coloredDigits, DIGIT_COLORS } from '../src/index';

describe('coloured digits', () => {
  it('draws every digit and colour, independently, deterministically for a seed', async () => {
    const a = coloredDigits({ count: 2000, size: 16, seed: 1 });
    const b = coloredDigits({ count: 2000, size: 16, seed: 1 });
    expect(Array.from(a.attributes.color)).toEqual(Array.from(b.attributes.color));
    expect(Array.from(a.labels!)).toEqual(Array.from(a.attributes.digit));
    const joint = new Map<string, number>();
    for (let i = 0; i < 2000; i++) joint.set(`${a.attributes.digit[i]}-${a.attributes.color[i]}`, (joint.get(`${a.attributes.digit[i]}-${a.attributes.color[i]}`) ?? 0) + 1);
    // 100 combinations, each expected 20 times: independence means every one occurs.
    expect(joint.size).toBe(100);
    const byColor = a.labelledBy('color');
    const batch = await byColor.read([0, 1, 2]);
    expect(Array.from(batch.labels!)).toEqual(Array.from(a.attributes.color.subarray(0, 3)));
    expect(batch.images.shape).toEqual([3, 16, 16, 3]);
    batch.images.dispose();
    expect(() => a.labelledBy('shape')).toThrow(/digit, color/);
  });

  it('paints the stroke in the chosen colour on black', async () => {
    const d = coloredDigits({ count: 1, size: 28, seed: 2, colorNoise: 0 });
    const { images } = await d.read([0]);
    const px = await images.data();
    images.dispose();
    const rgb = DIGIT_COLORS[d.attributes.color[0]].rgb;
    let brightest = 0;
    for (let p = 0; p < 28 * 28; p++) if (px[p * 3] + px[p * 3 + 1] + px[p * 3 + 2] > px[brightest * 3] + px[brightest * 3 + 1] + px[brightest * 3 + 2]) brightest = p;
    for (let c = 0; c < 3; c++) expect(px[brightest * 3 + c]).toBeCloseTo(rgb[c], 5);
    expect(px[0] + px[1] + px[2]).toBe(0);
  });

  it('MMVP pairs differ in the named feature only', async () => {
    const colourPairs = coloredDigitPairs({ pairs: 4, feature: 'color', size: 16, seed: 3, colorNoise: 0 });
    const [a, b] = await Promise.all(colourPairs.members.map((m) => m.read([0, 1, 2, 3])));
    const pa = await a.images.data();
    const pb = await b.images.data();
    // Same stroke coverage (pose and digit shared): the per-pixel max channel is zero at the same places.
    for (let p = 0; p < pa.length / 3; p++) expect(Math.max(pa[p * 3], pa[p * 3 + 1], pa[p * 3 + 2]) > 0).toBe(Math.max(pb[p * 3], pb[p * 3 + 1], pb[p * 3 + 2]) > 0);
    expect(Array.from(pa)).not.toEqual(Array.from(pb));
    a.images.dispose();
    b.images.dispose();
  });
});
