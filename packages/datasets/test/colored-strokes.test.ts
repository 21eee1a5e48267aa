import { coloredStrokes, DIGIT_COLORS } from '@genview/datasets';
import { describe, expect, it } from 'vitest';

describe('coloredStrokes', () => {
  // 400 grey 2x2 "digits": pixel p of image i is ((i + p) % 4) / 3, label i % 10.
  const n = 400;
  const grey = Float32Array.from({ length: n * 4 }, (_, j) => ((Math.floor(j / 4) + (j % 4)) % 4) / 3);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 10);

  it('paints each stroke one colour on black: pixel = grey value x the colour', async () => {
    const data = coloredStrokes({ pixels: grey, labels, size: 2, seed: 3 });
    expect(data.info.imageShape).toEqual([2, 2, 3]);
    const batch = await data.read([0, 7]);
    const px = batch.images.dataSync();
    batch.images.dispose();
    for (const [row, i] of [0, 7].entries()) {
      const rgb = DIGIT_COLORS[data.attributes.color[i]].rgb;
      for (let p = 0; p < 4; p++) for (let c = 0; c < 3; c++) expect(px[(row * 4 + p) * 3 + c]).toBeCloseTo(grey[i * 4 + p] * rgb[c], 6);
    }
    expect(Array.from(data.labels!)).toEqual(Array.from(labels));
    expect(Array.from(data.attributes.digit)).toEqual(Array.from(labels));
  });

  it('draws the colour independently of the label: every digit gets several colours, all ten are used', () => {
    const { color, digit } = coloredStrokes({ pixels: grey, labels, size: 2, seed: 1 }).attributes;
    expect(new Set(color).size).toBe(10);
    for (let d = 0; d < 10; d++) {
      const colours = new Set(Array.from(color).filter((_, i) => digit[i] === d));
      expect(colours.size).toBeGreaterThanOrEqual(6);
    }
    // Same seed, same colours; bytes read as 0-255.
    const bytes = Uint8Array.from(grey, (v) => Math.round(v * 255));
    expect(Array.from(coloredStrokes({ pixels: bytes, labels, size: 2, seed: 1 }).attributes.color)).toEqual(Array.from(color));
  });

  it('refuses pixels that do not fit the labels and size', () => {
    expect(() => coloredStrokes({ pixels: grey.subarray(1), labels, size: 2 })).toThrow(/expected 1600/);
    expect(() => coloredStrokes({ pixels: grey, labels, size: 2, colors: 11 })).toThrow(/colors must be/);
  });
});
