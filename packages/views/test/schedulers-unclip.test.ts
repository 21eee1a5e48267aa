import { GenviewError, Rng } from '@genview/core';
import { describe, expect, it } from 'vitest';
import { addNoiseAtTimestep, alphasCumprodFor, createScheduler, timestepEmbedding } from '../src/diffusion/schedulers';

/** Stable unCLIP's image_noising_scheduler: a DDPMScheduler with the cosine schedule. */
const NOISING = { _class_name: 'DDPMScheduler', beta_schedule: 'squaredcos_cap_v2', num_train_timesteps: 1000 } as const;

describe('addNoiseAtTimestep (DDPM forward process)', () => {
  const ac = alphasCumprodFor({ num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'squaredcos_cap_v2' });
  const x = new Rng(1).normalArray(32);
  const n = new Rng(2).normalArray(32);

  it('mixes sqrt(a_t) of the signal with sqrt(1 - a_t) of the noise', () => {
    // alpha_bar(t) = f((t + 1) / T) / f(0) with f(u) = cos^2(((u + 0.008) / 1.008) pi / 2).
    const f = (u: number) => Math.cos(((u + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    for (const t of [0, 250, 500, 998]) {
      const a = f((t + 1) / 1000) / f(0);
      const out = addNoiseAtTimestep(x, n, t, ac);
      for (let i = 0; i < x.length; i++) expect(out[i]).toBeCloseTo(Math.sqrt(a) * x[i] + Math.sqrt(1 - a) * n[i], 5);
    }
  });

  it('keeps signal and noise shares at unit total variance', () => {
    const out = addNoiseAtTimestep(new Float32Array([1]), new Float32Array([0]), 300, ac);
    const onlyNoise = addNoiseAtTimestep(new Float32Array([0]), new Float32Array([1]), 300, ac);
    expect(out[0] ** 2 + onlyNoise[0] ** 2).toBeCloseTo(1, 6);
  });

  it('agrees with the schedule the unCLIP noising config builds', () => {
    const fromConfig = createScheduler(NOISING, 1).alphasCumprod;
    expect(Array.from(addNoiseAtTimestep(x, n, 100, fromConfig))).toEqual(Array.from(addNoiseAtTimestep(x, n, 100, ac)));
  });

  it('rejects a timestep outside the schedule and a noise array of the wrong size', () => {
    expect(() => addNoiseAtTimestep(x, n, 1000, ac)).toThrow(/t must be an integer training step from 0 to 999; got 1000/);
    expect(() => addNoiseAtTimestep(x, n, 2.5, ac)).toThrow(GenviewError);
    expect(() => addNoiseAtTimestep(x, n.subarray(0, 4), 10, ac)).toThrow(/BAD_SHAPE/);
  });
});

describe('timestepEmbedding (get_timestep_embedding)', () => {
  /** [cos(t w_i)..., sin(t w_i)...] with w_i = 10000^(-i / (half - shift)). */
  function reference(t: number, dim: number, shift: number, cosFirst: boolean): number[] {
    const half = Math.floor(dim / 2);
    const w = Array.from({ length: half }, (_, i) => 10000 ** (-i / (half - shift)));
    const cos = w.map((wi) => Math.cos(t * wi));
    const sin = w.map((wi) => Math.sin(t * wi));
    const out = cosFirst ? [...cos, ...sin] : [...sin, ...cos];
    return dim % 2 === 1 ? [...out, 0] : out;
  }

  it('puts cosines first with unshifted frequencies by default (unCLIP noise_level)', () => {
    const emb = timestepEmbedding(3, 6);
    // w = 1, 10^(-4/3), 10^(-8/3)
    expect(emb[0]).toBeCloseTo(Math.cos(3), 6);
    expect(emb[1]).toBeCloseTo(Math.cos(3 * 10 ** (-4 / 3)), 6);
    expect(emb[3]).toBeCloseTo(Math.sin(3), 6);
    expect(emb[5]).toBeCloseTo(Math.sin(3 * 10 ** (-8 / 3)), 6);
    expect(Array.from(timestepEmbedding(0, 4))).toEqual([1, 1, 0, 0]);
  });

  it('matches the formula for unCLIP widths and noise levels', () => {
    for (const dim of [768, 1024, 7]) {
      for (const t of [0, 1, 100, 999]) {
        const emb = timestepEmbedding(t, dim);
        const ref = reference(t, dim, 0, true);
        expect(emb.length).toBe(dim);
        let worst = 0;
        for (let i = 0; i < dim; i++) worst = Math.max(worst, Math.abs(emb[i] - ref[i]));
        // float32 phases, as torch computes them: t * w is rounded before sin/cos.
        expect(worst, `dim=${dim} t=${t}`).toBeLessThan(2e-4);
      }
    }
    expect(timestepEmbedding(5, 7)[6]).toBe(0);
  });

  it('also gives the UNet-style layout (sin first, shift 1)', () => {
    const emb = timestepEmbedding(50, 8, { flipSinToCos: false, downscaleFreqShift: 1 });
    const ref = reference(50, 8, 1, false);
    for (let i = 0; i < 8; i++) expect(emb[i]).toBeCloseTo(ref[i], 4);
  });

  it('rejects a non-positive width', () => {
    expect(() => timestepEmbedding(1, 0)).toThrow(/dim must be a positive integer/);
  });
});
