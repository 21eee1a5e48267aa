import { Rng, type Tensor4D, tf } from '@genview/core';
import {
  GaussianBlur,
  HorizontalFlip,
  RandomResizedCrop,
  ViewPipeline,
  augmentationFromRef,
  augmentationPresets,
  buildPipeline,
  presetFor,
  presetPipelines,
} from '@genview/views';
import { defaultKernelSize, gaussianKernel1d } from '../src/augment/gaussian-blur';
import { describe, expect, it } from 'vitest';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, eps = 1e-5) => {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  expect(worst).toBeLessThan(eps);
};

/** torch-style reflect index ("reflect": mirror without repeating the edge). */
const reflect = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * n - 2 - i : i);

/** Plain-JS separable blur of one [H, W, C] image, the reference for the batched version. */
function blurReference(img: Float32Array, h: number, w: number, c: number, kernel: Float32Array): Float32Array {
  const r = (kernel.length - 1) / 2;
  const tmp = new Float32Array(img.length);
  const out = new Float32Array(img.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let t = 0; t < kernel.length; t++) s += kernel[t] * img[(reflect(y + t - r, h) * w + x) * c + ch];
        tmp[(y * w + x) * c + ch] = s;
      }
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let t = 0; t < kernel.length; t++) s += kernel[t] * tmp[(y * w + reflect(x + t - r, w)) * c + ch];
        out[(y * w + x) * c + ch] = s;
      }
  return out;
}

/** torchvision resized_crop on one [H, W, C] image: crop, then bilinear resize with align_corners=False. */
function resizedCropReference(img: Float32Array, w: number, c: number, crop: { top: number; left: number; height: number; width: number }, out: [number, number]) {
  const res = new Float32Array(out[0] * out[1] * c);
  const src = (len: number, o: number, i: number) => Math.min(Math.max((i + 0.5) * (len / o) - 0.5, 0), len - 1);
  for (let i = 0; i < out[0]; i++)
    for (let j = 0; j < out[1]; j++) {
      const sy = src(crop.height, out[0], i);
      const sx = src(crop.width, out[1], j);
      const y0 = Math.floor(sy);
      const x0 = Math.floor(sx);
      const y1 = Math.min(y0 + 1, crop.height - 1);
      const x1 = Math.min(x0 + 1, crop.width - 1);
      const ly = sy - y0;
      const lx = sx - x0;
      for (let ch = 0; ch < c; ch++) {
        const at = (y: number, x: number) => img[((crop.top + y) * w + crop.left + x) * c + ch];
        res[(i * out[1] + j) * c + ch] =
          (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1));
      }
    }
  return res;
}

describe('gaussian-blur', () => {
  it('builds torchvision kernels and scales the default size with the image', () => {
    const k = gaussianKernel1d(3, 1);
    const e = Math.exp(-0.5);
    close(k, [e / (1 + 2 * e), 1 / (1 + 2 * e), e / (1 + 2 * e)], 1e-7);
    expect([defaultKernelSize(28, 28), defaultKernelSize(32, 32), defaultKernelSize(96, 96), defaultKernelSize(224, 224)]).toEqual([3, 3, 11, 23]);
  });

  it('blurs each row with its own sigma and reflect padding, leaving other rows exact', () => {
    for (const c of [1, 3]) {
      const blur = new GaussianBlur({ p: 0.6, kernelSize: 5 });
      const n = 6;
      const [h, w] = [7, 9];
      const x = tf.tidy(() => tf.randomUniform([n, h, w, c], 0, 1, 'float32', 5) as Tensor4D);
      const params = blur.sampleParams(new Rng(21), n, [h, w, c]);
      expect(params.applied.some(Boolean) && params.applied.some((a) => !a)).toBe(true);
      const y = blur.apply(x, params);
      const xs = x.dataSync() as Float32Array;
      const ys = y.dataSync() as Float32Array;
      const len = h * w * c;
      for (let i = 0; i < n; i++) {
        const img = xs.slice(i * len, (i + 1) * len);
        const got = ys.slice(i * len, (i + 1) * len);
        if (params.applied[i]) close(got, blurReference(img, h, w, c, gaussianKernel1d(5, params.sigma[i])), 1e-5);
        else expect(Array.from(got)).toEqual(Array.from(img));
      }
      tf.dispose([x, y]);
    }
  });

  it('keeps a constant image constant and samples sigma in range', () => {
    const blur = new GaussianBlur({ p: 1 });
    const x = tf.fill([2, 28, 28, 1], 0.3) as Tensor4D;
    const params = blur.sampleParams(new Rng(1), 2, [28, 28, 1]);
    expect(params.kernelSize).toBe(3);
    const y = blur.apply(x, params);
    close(y.dataSync(), new Float32Array(2 * 28 * 28).fill(0.3), 1e-6);
    const sigmas = blur.sampleParams(new Rng(2), 2000, [8, 8, 1]).sigma;
    expect(Math.min(...sigmas)).toBeGreaterThanOrEqual(0.1);
    expect(Math.max(...sigmas)).toBeLessThanOrEqual(2);
    tf.dispose([x, y]);
  });

  it('rejects even kernel sizes and kernels larger than the image', () => {
    expect(() => new GaussianBlur({ kernelSize: 4 })).toThrow(/kernelSize must be odd/);
    const blur = new GaussianBlur({ kernelSize: 9, p: 1 });
    const x = tf.zeros([1, 3, 3, 1]) as Tensor4D;
    expect(() => blur.apply(x, blur.sampleParams(new Rng(0), 1, [3, 3, 1]))).toThrow(/too large/);
    x.dispose();
  });
});

describe('random-resized-crop against torchvision resized_crop', () => {
  it('matches crop-then-resize when shrinking, on C=1 and C=3', () => {
    for (const c of [1, 3]) {
      const [H, W] = [20, 24];
      const crop = new RandomResizedCrop({ size: [5, 6], scale: [0.3, 1] });
      const x = tf.tidy(() => tf.randomUniform([8, H, W, c], 0, 1, 'float32', 8) as Tensor4D);
      const params = crop.sampleParams(new Rng(c), 8, [H, W, c]);
      const y = crop.apply(x, params);
      const xs = x.dataSync() as Float32Array;
      const ys = y.dataSync() as Float32Array;
      const inLen = H * W * c;
      const outLen = 5 * 6 * c;
      params.crops.forEach((rect, i) => {
        close(ys.slice(i * outLen, (i + 1) * outLen), resizedCropReference(xs.slice(i * inLen, (i + 1) * inLen), W, c, rect, [5, 6]), 1e-5);
      });
      tf.dispose([x, y]);
    }
  });
});

describe('pipelines and presets', () => {
  it('samples every step in order, tracks the crop size, and is reproducible per seed', () => {
    const pipeline = buildPipeline([new RandomResizedCrop({ size: 16 }), new HorizontalFlip(), new GaussianBlur({ p: 1 })]);
    expect(pipeline.outputShape([28, 28, 1])).toEqual([16, 16, 1]);
    const a = pipeline.sampleParams(new Rng(42), 4, [28, 28, 1]);
    const b = pipeline.sampleParams(new Rng(42), 4, [28, 28, 1]);
    const other = pipeline.sampleParams(new Rng(43), 4, [28, 28, 1]);
    expect(a).toEqual(b);
    expect(a).not.toEqual(other);
    expect(a).toHaveLength(3);
    expect((a[2] as { kernelSize: number }).kernelSize).toBe(3);
    const x = tf.tidy(() => tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 1) as Tensor4D);
    const y1 = pipeline.apply(x, a);
    const y2 = pipeline.apply(x, b);
    expect(y1.shape).toEqual([4, 16, 16, 1]);
    expect(Array.from(y1.dataSync())).toEqual(Array.from(y2.dataSync()));
    tf.dispose([x, y1, y2]);
  });

  it('gives the published recipes, sized for the image', () => {
    expect(Object.keys(augmentationPresets)).toEqual(['simclr', 'moco-v2', 'byol']);
    const simclr = presetFor('simclr', 28);
    expect(simclr).toHaveLength(2);
    expect(simclr[0].map((r) => (typeof r === 'string' ? r : r.name))).toEqual([
      'random-resized-crop',
      'horizontal-flip',
      'color-jitter',
      'random-grayscale',
      'gaussian-blur',
    ]);
    expect(simclr[0][0]).toMatchObject({ size: 28, scale: [0.08, 1] });
    expect(simclr[0][2]).toMatchObject({ brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, p: 0.8 });
    expect(simclr[0][4]).toMatchObject({ p: 0.5, kernelSize: 3 });
    expect(presetFor('simclr', 224)[0][4]).toMatchObject({ kernelSize: 23 });
    expect(presetFor('moco-v2', 32)[0][0]).toMatchObject({ scale: [0.2, 1] });
    const byol = presetFor('byol', [96, 96]);
    expect(byol[0].find((r) => typeof r !== 'string' && r.name === 'gaussian-blur')).toMatchObject({ p: 1 });
    expect(byol[1].find((r) => typeof r !== 'string' && r.name === 'gaussian-blur')).toMatchObject({ p: 0.1 });
    expect(byol[1].find((r) => typeof r !== 'string' && r.name === 'solarize')).toMatchObject({ p: 0.2 });
    expect(byol[0].find((r) => typeof r !== 'string' && r.name === 'color-jitter')).toMatchObject({ saturation: 0.2 });
    // presetFor returns copies: editing one leaves the preset alone.
    (byol[0][0] as { size?: unknown }).size = 1;
    expect(presetFor('byol', 96)[0][0]).toMatchObject({ size: 96 });
  });

  it('runs every preset on C=1 and C=3 batches without leaking tensors', () => {
    for (const name of ['simclr', 'moco-v2', 'byol'] as const) {
      for (const c of [1, 3]) {
        const views = presetPipelines(name, 24);
        const x = tf.tidy(() => tf.randomUniform([16, 32, 32, c], 0, 1, 'float32', 2) as Tensor4D);
        const rng = new Rng(0);
        const before = tf.memory().numTensors;
        for (let step = 0; step < 2; step++) {
          for (const view of views) {
            const y = view.apply(x, view.sampleParams(rng, 16, [32, 32, c]));
            expect(y.shape).toEqual([16, 24, 24, c]);
            const data = y.dataSync();
            let [lo, hi] = [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
            for (const v of data) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
            expect(lo).toBeGreaterThanOrEqual(0);
            expect(hi).toBeLessThanOrEqual(1 + 1e-6);
            y.dispose();
          }
        }
        expect(tf.memory().numTensors).toBe(before);
        x.dispose();
      }
    }
  });

  it('builds augmentations from references without a registry', () => {
    expect(augmentationFromRef('@genview/views:horizontal-flip')).toBeInstanceOf(HorizontalFlip);
    expect(() => augmentationFromRef({ name: 'horizontal-flop' })).toThrow(/did you mean "horizontal-flip"/);
    expect(() => new ViewPipeline([{} as never])).toThrow(/not an Augmentation/);
  });
});
