import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type GenerationRequest, Rng, type Tensor3D, tf } from '@genview/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxDiffusionGenerator, OnnxDiffusionPipeline } from '../src/index';

// Made by tools/diffusion/tiny_unclip/train.py --random: the layout and signatures of our real model, random weights.
const FIXTURE = fileURLToPath(new URL('./fixtures/tiny-random-unclip', import.meta.url));

function image(seed: number, shape: [number, number, number] = [28, 28, 1]): Tensor3D {
  return tf.tensor3d(new Rng(seed).uniformArray(shape[0] * shape[1] * shape[2]), shape);
}

function pixels(view: { image: Tensor3D }): Float32Array {
  return view.image.dataSync() as Float32Array;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

describe('OnnxDiffusionPipeline on a tiny random unCLIP export', () => {
  let pipeline: OnnxDiffusionPipeline;
  const sources: Tensor3D[] = [];

  beforeAll(async () => {
    pipeline = await OnnxDiffusionPipeline.load(FIXTURE, { steps: 4, guidanceScale: 3, threads: 1 });
    sources.push(image(1), image(2), image(3));
  });
  afterAll(async () => {
    await pipeline.dispose();
    for (const s of sources) s.dispose();
  });

  const request = (i: number, extra: Partial<GenerationRequest> = {}): GenerationRequest => ({ source: 'image', image: sources[i], seed: 100 + i, noiseLevel: 0, ...extra });

  it('reads shapes from the export and serves all three sources', () => {
    expect(pipeline.latentShape).toEqual([4, 14, 14]);
    expect(pipeline.imageShape).toEqual([28, 28, 1]);
    expect(['image', 'text', 'image+text'].map((s) => pipeline.supports(s as GenerationRequest['source']))).toEqual([true, true, true]);
  });

  it('encodes prompts correctly when a call overflows the prompt cache (cached prompts of the same call are kept)', async () => {
    const first = Array.from({ length: 250 }, (_, i) => `a photo of item ${i}`);
    const cached = await pipeline.encodePrompts(first);
    // 2 cached prompts plus 10 new ones take the cache past its limit in the middle of this call.
    const mixed = [first[0] as string, ...Array.from({ length: 10 }, (_, i) => `a drawing of thing ${i}`), first[249] as string];
    const states = await pipeline.encodePrompts(mixed);
    expect(states.every((s) => s instanceof Float32Array && s.length === (cached[0] as Float32Array).length)).toBe(true);
    expect(states[0]).toEqual(cached[0]);
    expect(states[11]).toEqual(cached[249]);
  });

  it('gives the same view for the same seed and a different one for another seed', async () => {
    const [a, b, c] = await pipeline.generate([request(0), request(0), request(0, { seed: 7 })]);
    expect(a?.image.shape).toEqual([28, 28, 1]);
    expect(maxAbsDiff(pixels(a!), pixels(b!))).toBe(0);
    expect(maxAbsDiff(pixels(a!), pixels(c!))).toBeGreaterThan(1e-3);
    for (const v of [a, b, c]) {
      const values = pixels(v!);
      expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...values)).toBeLessThanOrEqual(1);
      v?.image.dispose();
    }
  });

  it('makes each view independent of what it is batched with', async () => {
    const together = await pipeline.generate([request(0), request(1, { noiseLevel: 300, guidanceScale: 5 }), request(2, { source: 'text', image: undefined, prompt: 'a photo of a bag' })]);
    for (const [i, r] of [request(0), request(1, { noiseLevel: 300, guidanceScale: 5 }), request(2, { source: 'text', image: undefined, prompt: 'a photo of a bag' })].entries()) {
      const [alone] = await pipeline.generate([r]);
      expect(maxAbsDiff(pixels(alone!), pixels(together[i]!))).toBeLessThan(1e-4);
      alone?.image.dispose();
    }
    for (const v of together) v.image.dispose();
  });

  it('changes the view with the noise level, the guidance scale and the prompt, and records them', async () => {
    const views = await pipeline.generate([
      request(0),
      request(0, { noiseLevel: 600 }),
      request(0, { guidanceScale: 1 }),
      request(0, { source: 'image+text', prompt: 'a photo of a dress' }),
    ]);
    const base = pixels(views[0]!);
    for (const v of views.slice(1)) expect(maxAbsDiff(base, pixels(v))).toBeGreaterThan(1e-4);
    expect(views[1]?.params).toMatchObject({ source: 'image', noiseLevel: 600, seed: 100, steps: 4, guidanceScale: 3 });
    expect(views[3]?.params).toMatchObject({ source: 'image+text', prompt: 'a photo of a dress' });
    for (const v of views) v.image.dispose();
  });

  it('returns views at the source image size and channels', async () => {
    const colour = image(9, [40, 32, 3]);
    const [v] = await pipeline.generate([{ source: 'image', image: colour, seed: 1 }]);
    expect(v?.image.shape).toEqual([40, 32, 3]);
    v?.image.dispose();
    colour.dispose();
  });

  it('runs img2img from the noised input latents for the last steps only', async () => {
    pipeline.resetTimings();
    const [full] = await pipeline.generate([request(0)]);
    const fullUnet = pipeline.timings.unet ?? 0;
    pipeline.resetTimings();
    const [partial] = await pipeline.generate([request(0, { strength: 0.5 })]);
    expect(pipeline.timings.vae_encoder).toBeGreaterThan(0);
    expect(pipeline.timings.unet ?? 0).toBeLessThan(fullUnet);
    expect(maxAbsDiff(pixels(full!), pixels(partial!))).toBeGreaterThan(1e-4);
    expect(partial?.params.strength).toBe(0.5);
    full?.image.dispose();
    partial?.image.dispose();
  });

  it('runs every scheduler deterministically', async () => {
    for (const scheduler of ['ddim', 'euler', 'euler-ancestral', 'dpm-solver'] as const) {
      const p = await OnnxDiffusionPipeline.load(FIXTURE, { steps: 3, scheduler, threads: 1 });
      const [a] = await p.generate([request(1)]);
      const [b] = await p.generate([request(1)]);
      const values = pixels(a!);
      expect(values.every(Number.isFinite)).toBe(true);
      expect(maxAbsDiff(values, pixels(b!))).toBe(0);
      a?.image.dispose();
      b?.image.dispose();
      await p.dispose();
    }
  });

  it('rejects bad requests with the field and the fix', async () => {
    await expect(pipeline.generate([{ source: 'image', seed: 1 }])).rejects.toThrow(/requests\[0\]\.image.*needs an image/);
    await expect(pipeline.generate([{ source: 'text', seed: 1 }])).rejects.toThrow(/requests\[0\]\.prompt/);
    await expect(pipeline.generate([request(0, { noiseLevel: 1000 })])).rejects.toThrow(/noiseLevel must be an integer in \[0, 999\]/);
    await expect(pipeline.generate([request(0, { strength: 1.5 })])).rejects.toThrow(/strength must be in \(0, 1\]/);
  });
});

describe('loading a folder that is not a complete pipeline', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'genview-pipeline-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names the missing part', async () => {
    const broken = join(dir, 'no-unet');
    await cp(FIXTURE, broken, { recursive: true });
    await rm(join(broken, 'unet'), { recursive: true });
    await expect(OnnxDiffusionPipeline.load(broken)).rejects.toThrow(/unet\/model\.onnx is missing/);
  });

  it('names a part whose inputs are not the expected ones', async () => {
    const wrong = join(dir, 'wrong-unet');
    await cp(FIXTURE, wrong, { recursive: true });
    await cp(join(FIXTURE, 'vae_decoder', 'model.onnx'), join(wrong, 'unet', 'model.onnx'));
    await expect(OnnxDiffusionPipeline.load(wrong)).rejects.toThrow(/unet model has no input "sample".*latent_sample/);
  });

  it('explains a folder without model_index.json', async () => {
    await expect(OnnxDiffusionPipeline.load(dir)).rejects.toThrow(/model_index\.json/);
  });

  it('opens through the generator plugin contract', async () => {
    const generator = await OnnxDiffusionGenerator.open({ path: FIXTURE, steps: 2, threads: 1 });
    const source = image(5);
    const [v] = await generator.generate([{ source: 'image', image: source, seed: 3, index: 17 }]);
    expect(v?.index).toBe(17);
    expect(v?.image.shape).toEqual([28, 28, 1]);
    v?.image.dispose();
    source.dispose();
    await generator.dispose();
  });
});
