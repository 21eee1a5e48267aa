import { EventBus, GenviewError, Registry, Rng, type Tensor4D, tf } from '@genview/core';
import {
  ColorJitter,
  type ColorJitterParams,
  HorizontalFlip,
  RandomGrayscale,
  RandomResizedCrop,
  Solarize,
  plugins,
} from '@genview/views';
import { hsvToRgb, rgbToHsv } from '../src/augment/hsv';
import { describe, expect, it } from 'vitest';

const values = (t: tf.Tensor) => Array.from(t.dataSync());
const close = (a: ArrayLike<number>, b: ArrayLike<number>, eps = 1e-5) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(eps);
};

describe('horizontal-flip', () => {
  it('mirrors a 1x2x3x1 ramp exactly', () => {
    const flip = new HorizontalFlip({ p: 1 });
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 2, 3, 1]);
    const params = flip.sampleParams(new Rng(1), 1, [2, 3, 1]);
    expect(params.flip).toEqual([true]);
    const y = flip.apply(x, params);
    expect(values(y)).toEqual([3, 2, 1, 6, 5, 4]);
    tf.dispose([x, y]);
  });

  it('flips only the rows whose flag is set, on C=3', () => {
    const flip = new HorizontalFlip();
    const x = tf.tensor4d(
      Array.from({ length: 2 * 1 * 2 * 3 }, (_, i) => i),
      [2, 1, 2, 3],
    );
    const y = flip.apply(x, { flip: [false, true] });
    expect(values(y)).toEqual([0, 1, 2, 3, 4, 5, 9, 10, 11, 6, 7, 8]);
    tf.dispose([x, y]);
  });

  it('flips at rate p over many samples', () => {
    const flags = new HorizontalFlip({ p: 0.3 }).sampleParams(new Rng(3), 20000, [8, 8, 1]).flip;
    const rate = flags.filter(Boolean).length / flags.length;
    expect(Math.abs(rate - 0.3)).toBeLessThan(0.015);
  });
});

describe('solarize', () => {
  it('inverts exactly the pixels at or above the threshold', () => {
    const s = new Solarize({ p: 1, threshold: 0.5 });
    const x = tf.tensor4d([0, 0.25, 0.5, 0.75, 1, 0.49], [1, 2, 3, 1]);
    const y = s.apply(x, s.sampleParams(new Rng(0), 1, [2, 3, 1]));
    close(values(y), [0, 0.25, 0.5, 0.25, 0, 0.49], 1e-7);
    tf.dispose([x, y]);
  });

  it('defaults to p = 0 (identity) and honours per-row flags', () => {
    const s = new Solarize();
    expect(s.options).toEqual({ p: 0, threshold: 0.5 });
    const x = tf.tensor4d([0.9, 0.9], [2, 1, 1, 1]);
    const y = s.apply(x, { solarize: [true, false] });
    close(values(y), [0.1, 0.9]);
    tf.dispose([x, y]);
  });
});

describe('random-grayscale', () => {
  it('replaces chosen rows by ITU-R 601 luma in every channel', () => {
    const g = new RandomGrayscale();
    const x = tf.tensor4d([1, 0, 0, 0, 1, 0, 0.2, 0.4, 0.6, 0.5, 0.5, 0.5], [2, 1, 2, 3]);
    const y = g.apply(x, { gray: [true, false] });
    // Row 0 (red, green pixels) becomes grey; row 1 is untouched.
    close(values(y), [0.299, 0.299, 0.299, 0.587, 0.587, 0.587, 0.2, 0.4, 0.6, 0.5, 0.5, 0.5], 1e-6);
    expect(y.shape).toEqual([2, 1, 2, 3]);
    tf.dispose([x, y]);
  });

  it('converts at rate p and is the identity on one channel', () => {
    const g = new RandomGrayscale({ p: 0.2 });
    const flags = g.sampleParams(new Rng(9), 20000, [4, 4, 3]).gray;
    expect(Math.abs(flags.filter(Boolean).length / 20000 - 0.2)).toBeLessThan(0.012);
    const x = tf.tensor4d([0.1, 0.7], [1, 1, 2, 1]);
    const y = g.apply(x, { gray: [true] });
    expect(values(y)).toEqual(values(x));
    tf.dispose([x, y]);
  });
});

describe('color-jitter', () => {
  const identity = (n: number): ColorJitterParams => ({
    applied: new Array(n).fill(true),
    order: Array.from({ length: n }, () => [0, 1, 2, 3]),
    brightness: new Array(n).fill(1),
    contrast: new Array(n).fill(1),
    saturation: new Array(n).fill(1),
    hue: new Array(n).fill(0),
  });

  it('scales by the brightness factor and clamps to [0, 1]', () => {
    const j = new ColorJitter();
    const x = tf.tensor4d([0.1, 0.4, 0.8], [1, 1, 3, 1]);
    const y = j.apply(x, { ...identity(1), brightness: [1.5] });
    close(values(y), [0.15, 0.6, 1]);
    tf.dispose([x, y]);
  });

  it('blends with the mean luma for contrast and with the luma for saturation', () => {
    const j = new ColorJitter();
    const px = [0.2, 0.4, 0.6, 0.8, 0.1, 0.3];
    const x = tf.tensor4d(px, [1, 1, 2, 3]);
    const lumas = [0, 1].map((p) => 0.299 * px[3 * p] + 0.587 * px[3 * p + 1] + 0.114 * px[3 * p + 2]);
    const mean = (lumas[0] + lumas[1]) / 2;
    const c = values(j.apply(x, { ...identity(1), contrast: [0.5] }));
    close(
      c,
      px.map((v) => Math.min(1, Math.max(0, 0.5 * v + 0.5 * mean))),
    );
    const s = values(j.apply(x, { ...identity(1), saturation: [1.5] }));
    close(
      s,
      px.map((v, i) => Math.min(1, Math.max(0, 1.5 * v - 0.5 * lumas[Math.floor(i / 3)]))),
    );
    x.dispose();
  });

  it('rotates hue like torchvision: red by 1/3 turn is green, by 1/2 is cyan', () => {
    const j = new ColorJitter();
    const x = tf.tensor4d([1, 0, 0, 0.8, 0.2, 0.2], [1, 1, 2, 3]);
    const g = j.apply(x, { ...identity(1), hue: [1 / 3] });
    close(values(g), [0, 1, 0, 0.2, 0.8, 0.2]);
    const c = j.apply(x, { ...identity(1), hue: [-0.5] });
    close(values(c), [0, 1, 1, 0.2, 0.8, 0.8]);
    tf.dispose([x, g, c]);
  });

  it('round-trips RGB through HSV and matches known HSV values', () => {
    const rgb = tf.tensor4d([1, 0, 0, 0, 0, 1, 0.5, 0.5, 0.5, 0.2, 0.4, 0.8], [1, 1, 4, 3]);
    const hsv = rgbToHsv(rgb);
    close(values(hsv), [0, 1, 1, 2 / 3, 1, 1, 0, 0, 0.5, 0.6111111, 0.75, 0.8]);
    const back = hsvToRgb(hsv);
    close(values(back), values(rgb));
    tf.dispose([rgb, hsv, back]);
  });

  it('leaves 1-channel images untouched by saturation and hue', () => {
    const j = new ColorJitter({ brightness: 0, contrast: 0, saturation: 0.9, hue: 0.5, p: 1 });
    const x = tf.tensor4d([0.1, 0.5, 0.9, 0.3], [2, 1, 2, 1]);
    const y = j.apply(x, j.sampleParams(new Rng(4), 2, [1, 2, 1]));
    expect(values(y)).toEqual(values(x));
    tf.dispose([x, y]);
  });

  it('samples factors in torchvision ranges, identity where not applied', () => {
    const j = new ColorJitter({ brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1, p: 0.8 });
    const p = j.sampleParams(new Rng(5), 5000, [8, 8, 3]);
    const rate = p.applied.filter(Boolean).length / 5000;
    expect(Math.abs(rate - 0.8)).toBeLessThan(0.02);
    const bad = p.applied.filter((a, i) => {
      if (!a) return !(p.brightness[i] === 1 && p.contrast[i] === 1 && p.saturation[i] === 1 && p.hue[i] === 0);
      const inRange =
        p.brightness[i] >= 0.6 &&
        p.brightness[i] <= 1.4 &&
        p.contrast[i] >= 0.6 &&
        p.contrast[i] <= 1.4 &&
        p.saturation[i] >= 0.8 &&
        p.saturation[i] <= 1.2 &&
        Math.abs(p.hue[i]) <= 0.1;
      return !inRange || [...p.order[i]].sort().join('') !== '0123';
    });
    expect(bad).toEqual([]);
    const applied = p.brightness.filter((_, i) => p.applied[i]);
    expect(Math.abs(applied.reduce((s, v) => s + v, 0) / applied.length - 1)).toBeLessThan(0.01);
    const orders = new Set(p.order.map((o) => o.join('')));
    expect(orders.size).toBe(24);
  });

  it('applies each row with its own factors and order, as if alone', () => {
    const j = new ColorJitter({ p: 0.7 });
    const rng = new Rng(11);
    const n = 12;
    const x = tf.tidy(() => tf.randomUniform([n, 5, 5, 3], 0, 1, 'float32', 3) as Tensor4D);
    const params = j.sampleParams(rng, n, [5, 5, 3]);
    const all = j.apply(x, params);
    for (let i = 0; i < n; i++) {
      const row = tf.slice(x, [i, 0, 0, 0], [1, 5, 5, 3]);
      const pick = <T>(a: T[]) => [a[i]];
      const one = j.apply(row, {
        applied: pick(params.applied),
        order: pick(params.order),
        brightness: pick(params.brightness),
        contrast: pick(params.contrast),
        saturation: pick(params.saturation),
        hue: pick(params.hue),
      });
      const fromAll = tf.slice(all, [i, 0, 0, 0], [1, 5, 5, 3]);
      close(values(one), values(fromAll), 1e-6);
      tf.dispose([row, one, fromAll]);
    }
    tf.dispose([x, all]);
  });
});

describe('color-jitter against a per-pixel reference', () => {
  /** torchvision's functional ops on one image [H*W*3], written out per pixel (colorsys-style HSV). */
  function jitterReference(img: number[], order: number[], f: { b: number; c: number; s: number; h: number }): number[] {
    const clamp = (v: number) => Math.min(1, Math.max(0, v));
    const lumaOf = (x: number[], p: number) => 0.299 * x[3 * p] + 0.587 * x[3 * p + 1] + 0.114 * x[3 * p + 2];
    let x = [...img];
    const pixels = x.length / 3;
    for (const op of order) {
      if (op === 0) x = x.map((v) => clamp(v * f.b));
      if (op === 1) {
        let mean = 0;
        for (let p = 0; p < pixels; p++) mean += lumaOf(x, p) / pixels;
        x = x.map((v) => clamp(f.c * v + (1 - f.c) * mean));
      }
      if (op === 2) {
        const y = [...x];
        x = y.map((v, i) => clamp(f.s * v + (1 - f.s) * lumaOf(y, Math.floor(i / 3))));
      }
      if (op === 3) {
        for (let p = 0; p < pixels; p++) {
          const [r, g, b] = [x[3 * p], x[3 * p + 1], x[3 * p + 2]];
          const maxc = Math.max(r, g, b);
          const minc = Math.min(r, g, b);
          let h = 0;
          const sat = maxc === minc ? 0 : (maxc - minc) / maxc;
          if (maxc !== minc) {
            const [rc, gc, bc] = [r, g, b].map((v) => (maxc - v) / (maxc - minc));
            h = r === maxc ? bc - gc : g === maxc ? 2 + rc - bc : 4 + gc - rc;
            h = (((h / 6) % 1) + 1) % 1;
          }
          h = (((h + f.h) % 1) + 1) % 1;
          const i = Math.floor(h * 6) % 6;
          const t6 = h * 6 - Math.floor(h * 6);
          const [pp, q, t] = [maxc * (1 - sat), maxc * (1 - sat * t6), maxc * (1 - sat * (1 - t6))];
          const rgb = [
            [maxc, t, pp],
            [q, maxc, pp],
            [pp, maxc, t],
            [pp, q, maxc],
            [t, pp, maxc],
            [maxc, pp, q],
          ][i];
          x.splice(3 * p, 3, ...rgb);
        }
      }
    }
    return x;
  }

  it('matches torchvision semantics row by row, whatever the order', () => {
    const j = new ColorJitter({ brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.4, p: 0.9 });
    const n = 40;
    const x = tf.tidy(() => tf.randomUniform([n, 3, 4, 3], 0, 1, 'float32', 17) as Tensor4D);
    const params = j.sampleParams(new Rng(5), n, [3, 4, 3]);
    const y = j.apply(x, params);
    const xs = Array.from(x.dataSync());
    const ys = Array.from(y.dataSync());
    const len = 3 * 4 * 3;
    for (let i = 0; i < n; i++) {
      const img = xs.slice(i * len, (i + 1) * len);
      const want = params.applied[i]
        ? jitterReference(img, params.order[i], { b: params.brightness[i], c: params.contrast[i], s: params.saturation[i], h: params.hue[i] })
        : img;
      close(ys.slice(i * len, (i + 1) * len), want, 2e-5);
    }
    tf.dispose([x, y]);
  });

  it('gives order-dependent results where clamping bites (brightness 2 then contrast 0.5, and back)', () => {
    const j = new ColorJitter();
    // Pixels 0.2 and 0.8 (1 channel): mean 0.5.
    const x = tf.tensor4d([0.2, 0.8, 0.2, 0.8], [2, 1, 2, 1]);
    const y = j.apply(x, {
      applied: [true, true],
      order: [
        [0, 1, 2, 3],
        [1, 0, 2, 3],
      ],
      brightness: [2, 2],
      contrast: [0.5, 0.5],
      saturation: [1, 1],
      hue: [0, 0],
    });
    // Row 0: ×2 → 0.4, 1 (clamped); mean 0.7 → 0.55, 0.85. Row 1: blend → 0.35, 0.65; ×2 → 0.7, 1.
    close(values(y), [0.55, 0.85, 0.7, 1], 1e-6);
    tf.dispose([x, y]);
  });
});

describe('random-resized-crop', () => {
  it('is the exact identity for a full crop at the input size', () => {
    const crop = new RandomResizedCrop();
    const x = tf.tidy(() => tf.randomUniform([2, 7, 5, 3], 0, 1, 'float32', 1) as Tensor4D);
    const rect = { top: 0, left: 0, height: 7, width: 5 };
    const params = { inputSize: [7, 5] as [number, number], size: [7, 5] as [number, number], crops: [rect, rect], boxes: [] as [number, number, number, number][] };
    // boxes are derived by sampleParams; build them the same way through a scale-1, ratio-exact crop.
    const sampled = new RandomResizedCrop({ scale: [1, 1], ratio: [5 / 7, 5 / 7] }).sampleParams(new Rng(0), 2, [7, 5, 3]);
    expect(sampled.crops).toEqual([rect, rect]);
    const y = crop.apply(x, { ...params, boxes: sampled.boxes });
    close(values(y), values(x), 1e-6);
    tf.dispose([x, y]);
  });

  it('crops a known box and resizes with half-pixel bilinear sampling', () => {
    // 4x4 ramp; crop rows 0-1, cols 2-3 at size 2: exactly those pixels.
    const x = tf.tensor4d(
      Array.from({ length: 16 }, (_, i) => i),
      [1, 4, 4, 1],
    );
    const crop = new RandomResizedCrop({ size: 2, scale: [0.25, 0.25], ratio: [1, 1] });
    const params = crop.sampleParams(new Rng(2), 1, [4, 4, 1]);
    const { top, left } = params.crops[0];
    expect(params.crops[0]).toMatchObject({ height: 2, width: 2 });
    const y = crop.apply(x, params);
    const expected = [0, 1].flatMap((r) => [0, 1].map((c) => (top + r) * 4 + left + c));
    close(values(y), expected, 1e-5);
    tf.dispose([x, y]);
  });

  it('upsamples like torchvision bilinear (align_corners=False)', () => {
    // Row [0, 1] resized to 4 wide: sample centres at -0.25, 0.25, 0.75, 1.25 → clamped 0, 0.25, 0.75, 1.
    const x = tf.tensor4d([0, 1], [1, 1, 2, 1]);
    const crop = new RandomResizedCrop({ size: [1, 4], scale: [1, 1], ratio: [2, 2] });
    const params = crop.sampleParams(new Rng(0), 1, [1, 2, 1]);
    expect(params.crops[0]).toEqual({ top: 0, left: 0, height: 1, width: 2 });
    const y = crop.apply(x, params);
    close(values(y), [0, 0.25, 0.75, 1], 1e-6);
    tf.dispose([x, y]);
  });

  it('draws crop areas within scale with the analytic mean', () => {
    const H = 224;
    const crop = new RandomResizedCrop({ size: 32 });
    const params = crop.sampleParams(new Rng(7), 20000, [H, H, 3]);
    const areas = params.crops.map((c) => (c.height * c.width) / (H * H));
    expect(Math.min(...areas)).toBeGreaterThan(0.08 * 0.97);
    expect(Math.max(...areas)).toBeLessThanOrEqual(1);
    const outside = params.crops.filter(
      (c) =>
        c.top < 0 ||
        c.left < 0 ||
        c.top + c.height > H ||
        c.left + c.width > H ||
        c.width / c.height < (3 / 4) * 0.97 ||
        c.width / c.height > (4 / 3) * 1.03,
    );
    expect(outside).toEqual([]);
    // A try is kept when s <= min(r, 1/r) on a square image; the mean area is E[s | accepted].
    let num = 0;
    let den = 0;
    const a = Math.log(4 / 3);
    for (let k = 0; k < 10000; k++) {
      const m = Math.exp(-Math.abs(-a + (2 * a * (k + 0.5)) / 10000));
      num += (m * m - 0.08 * 0.08) / 2;
      den += m - 0.08;
    }
    const mean = areas.reduce((s, v) => s + v, 0) / areas.length;
    expect(Math.abs(mean - num / den)).toBeLessThan(0.006);
  });

  it('falls back to a centre crop clamped to the ratio range', () => {
    // scale > 1 can never fit: every try fails. A 10x40 image is wider than 4/3 allows.
    const crop = new RandomResizedCrop({ scale: [2, 2], ratio: [3 / 4, 4 / 3] });
    const params = crop.sampleParams(new Rng(1), 1, [10, 40, 1]);
    expect(params.crops[0]).toEqual({ top: 0, left: 13, height: 10, width: 13 });
  });

  it('outputs the configured size and keeps channels', () => {
    for (const c of [1, 3]) {
      const crop = new RandomResizedCrop({ size: [12, 9] });
      const x = tf.zeros([3, 28, 28, c]) as Tensor4D;
      const y = crop.apply(x, crop.sampleParams(new Rng(0), 3, [28, 28, c]));
      expect(y.shape).toEqual([3, 12, 9, c]);
      tf.dispose([x, y]);
    }
  });
});

describe('validation', () => {
  it('rejects min > max scale naming the field, directly and through the registry', async () => {
    expect(() => new RandomResizedCrop({ scale: [0.9, 0.1] })).toThrow(/scale/);
    try {
      new RandomResizedCrop({ scale: [0.9, 0.1] });
    } catch (e) {
      expect(e).toBeInstanceOf(GenviewError);
      expect((e as GenviewError).code).toBe('INVALID_CONFIG');
    }
    const registry = new Registry().register(plugins);
    await expect(
      registry.create('augment', { name: 'random-resized-crop', scale: [0.9, 0.1] }, { rng: new Rng(0), events: new EventBus(), path: 'views[0][0]' }),
    ).rejects.toThrow(/views\[0\]\[0\]\.scale/);
  });

  it('rejects rank-3 tensors and wrong channel counts', () => {
    const flip = new HorizontalFlip();
    const x3 = tf.zeros([4, 4, 1]);
    expect(() => flip.apply(x3 as unknown as Tensor4D, { flip: [true] })).toThrow(/rank 4/);
    const x2 = tf.zeros([1, 4, 4, 2]) as Tensor4D;
    expect(() => new ColorJitter().apply(x2, new ColorJitter().sampleParams(new Rng(0), 1, [4, 4, 3]))).toThrow(/1 or 3 channels/);
    expect(() => flip.sampleParams(new Rng(0), 1, [4, 4, 4])).toThrow(GenviewError);
    const x = tf.zeros([2, 4, 4, 1]) as Tensor4D;
    expect(() => flip.apply(x, { flip: [true] })).toThrow(/sampled for 1 images but the batch has 2/);
    tf.dispose([x3, x2, x]);
  });
});
