import { GenviewError, Rng } from '@genview/core';
import { describe, expect, it } from 'vitest';
import {
  type DiffusionScheduler,
  DpmSolverMultistepScheduler,
  EulerDiscreteScheduler,
  type SchedulerConfigInput,
  alphasCumprodFor,
  createScheduler,
  ddimTimesteps,
  dpmSolverTimesteps,
  eulerTimesteps,
  img2imgStart,
  parseSchedulerConfig,
} from '../src/diffusion/schedulers';

// ---------------------------------------------------------------------------------------------
// Independent references, written from the published formulas (not by calling the implementation).

/** numpy.round: halves to even. */
function npRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Element i of numpy.linspace(start, stop, num). */
function npLinspaceAt(start: number, stop: number, num: number, i: number): number {
  if (num === 1) return start;
  return i === num - 1 ? stop : i * ((stop - start) / (num - 1)) + start;
}

function refAlphasCumprod(T: number, b0: number, b1: number, schedule: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2'): number[] {
  const out: number[] = [];
  let prod = 1;
  const f = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  for (let t = 0; t < T; t++) {
    let beta: number;
    if (schedule === 'linear') beta = npLinspaceAt(b0, b1, T, t);
    else if (schedule === 'scaled_linear') beta = npLinspaceAt(Math.sqrt(b0), Math.sqrt(b1), T, t) ** 2;
    else beta = Math.min(1 - f((t + 1) / T) / f(t / T), 0.999);
    prod *= 1 - beta;
    out.push(prod);
  }
  return out;
}

function refDdim(spacing: string, T: number, N: number, offset: number): number[] {
  return Array.from({ length: N }, (_, i) => {
    if (spacing === 'leading') return (N - 1 - i) * Math.floor(T / N) + offset;
    if (spacing === 'trailing') return npRound(T - i * (T / N)) - 1;
    return npRound(npLinspaceAt(0, T - 1, N, N - 1 - i));
  });
}

/** sigma(t) = sqrt((1 - a)/a), linearly interpolated between integer training steps. */
function refSigmaAt(ac: number[], t: number): number {
  const s = (k: number) => Math.sqrt((1 - ac[k]) / ac[k]);
  if (t >= ac.length - 1) return s(ac.length - 1);
  const k = Math.floor(t);
  return s(k) + (s(k + 1) - s(k)) * (t - k);
}

const SD = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000 } as const;
const SD_AC = refAlphasCumprod(1000, 0.00085, 0.012, 'scaled_linear');

function sample(length: number, seed: number): Float32Array {
  return new Rng(seed).normalArray(length);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * A perfect model for data x0: it sees the variance-preserving input sqrt(a) x0 + sqrt(1 - a) eps
 * at a noise level it reads off the timestep from its own copy of the schedule, and returns the
 * exact epsilon (or v, or x0) that input contains.
 */
function oracle(x0: Float32Array, prediction: 'epsilon' | 'v_prediction' | 'sample', aBar: (t: number) => number) {
  return (input: Float32Array, t: number): Float32Array => {
    const a = aBar(t);
    const sa = Math.sqrt(a);
    const sb = Math.sqrt(1 - a);
    return input.map((x, i) => {
      const eps = (x - sa * x0[i]) / sb;
      if (prediction === 'epsilon') return eps;
      if (prediction === 'v_prediction') return sa * eps - sb * x0[i];
      return x0[i];
    });
  };
}

/** Integer training steps for DDIM/DPM; Euler's fractional timesteps map through sigma. */
const aBarAt = (ac: number[]) => (t: number) => (Number.isInteger(t) ? ac[t] : 1 / (1 + refSigmaAt(ac, t) ** 2));

function runLoop(s: DiffusionScheduler, start: Float32Array, model: (input: Float32Array, t: number) => Float32Array, rng?: Rng, from = 0): Float32Array {
  let x = start;
  for (let i = from; i < s.timesteps.length; i++) {
    const out = model(s.scaleModelInput(x, i), s.timesteps[i]);
    x = s.step(out, i, x, rng ? () => rng.normalArray(x.length) : undefined);
  }
  return x;
}

// ---------------------------------------------------------------------------------------------

describe('alphas_cumprod', () => {
  it.each(['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const)('%s matches the formula over all 1000 steps', (schedule) => {
    const [b0, b1] = schedule === 'scaled_linear' ? [0.00085, 0.012] : [0.0001, 0.02];
    const ac = alphasCumprodFor({ num_train_timesteps: 1000, beta_start: b0, beta_end: b1, beta_schedule: schedule });
    expect(ac.length).toBe(1000);
    expect(maxAbsDiff(ac, refAlphasCumprod(1000, b0, b1, schedule))).toBeLessThan(1e-12);
  });

  it('has the well-known end values', () => {
    const linear = alphasCumprodFor({ num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' });
    expect(linear[0]).toBeCloseTo(0.9999, 12);
    expect(linear[999]).toBeCloseTo(4.0358e-5, 8);
    const sd = alphasCumprodFor({ num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear' });
    expect(sd[0]).toBeCloseTo(0.99915, 12);
    expect(sd[999]).toBeCloseTo(0.0046601, 6);
    const cosine = alphasCumprodFor({ num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'squaredcos_cap_v2' });
    // Telescoping: alpha_bar(t/T) / alpha_bar(0) until the last beta, which the 0.999 cap holds.
    const f = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    expect(cosine[499]).toBeCloseTo(f(0.5) / f(0), 12);
    expect(1 - cosine[999] / cosine[998]).toBeCloseTo(0.999, 12);
  });

  it('uses trained_betas verbatim', () => {
    const betas = [0.1, 0.2, 0.5];
    const ac = alphasCumprodFor({ num_train_timesteps: 3, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', trained_betas: betas });
    expect(Array.from(ac)).toEqual([0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.5]);
  });
});

describe('inference timesteps', () => {
  it('gives SD 1.5 its DDIM 50-step leading schedule with steps_offset=1: 981, 961, ..., 1', () => {
    const ts = ddimTimesteps('leading', 1000, 50, 1);
    expect(ts.length).toBe(50);
    expect(Array.from(ts.slice(0, 3))).toEqual([981, 961, 941]);
    expect(ts[49]).toBe(1);
    expect(Array.from(ts)).toEqual(Array.from({ length: 50 }, (_, i) => 981 - 20 * i));
  });

  const grid: [number, number, number][] = [];
  for (const T of [1000, 500]) for (const N of [1, 3, 7, 10, 16, 25, 50, 100]) for (const offset of [0, 1]) grid.push([T, N, offset]);

  it.each(['leading', 'trailing', 'linspace'] as const)('DDIM %s matches the formula for every (T, N, offset) in the grid', (spacing) => {
    for (const [T, N, offset] of grid) {
      expect(Array.from(ddimTimesteps(spacing, T, N, offset)), `${spacing} T=${T} N=${N} offset=${offset}`).toEqual(refDdim(spacing, T, N, offset));
    }
  });

  it('rounds halves to even as numpy does (trailing 16 of 1000: 812.5 -> 811 after the -1)', () => {
    expect(Array.from(ddimTimesteps('trailing', 1000, 16))).toEqual([999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
    expect(Array.from(ddimTimesteps('linspace', 1000, 6))).toEqual([999, 799, 599, 400, 200, 0]);
  });

  it('keeps N steps where numpy float arange would append a -1 (trailing, T=1000, N=61)', () => {
    const ts = ddimTimesteps('trailing', 1000, 61);
    expect(ts.length).toBe(61);
    expect(ts[60]).toBeGreaterThanOrEqual(0);
    expect(Array.from(ts)).toEqual(refDdim('trailing', 1000, 61, 0));
  });

  it('leaves Euler linspace timesteps fractional (float32)', () => {
    expect(Array.from(eulerTimesteps('linspace', 1000, 7))).toEqual([999, 832.5, 666, 499.5, 333, 166.5, 0]);
    const ts = eulerTimesteps('linspace', 1000, 30);
    for (let i = 0; i < 30; i++) expect(ts[i]).toBe(Math.fround(npLinspaceAt(0, 999, 30, 29 - i)));
    expect(Array.from(eulerTimesteps('leading', 1000, 50, 1))).toEqual(refDdim('leading', 1000, 50, 1));
    expect(Array.from(eulerTimesteps('trailing', 1000, 16))).toEqual(refDdim('trailing', 1000, 16, 0));
  });

  it('spaces DPM-Solver leading/linspace over N + 1 points and drops t = 0', () => {
    expect(Array.from(dpmSolverTimesteps('linspace', 1000, 6))).toEqual([999, 832, 666, 500, 333, 166]);
    expect(Array.from(dpmSolverTimesteps('linspace', 1000, 20))).toEqual(
      Array.from({ length: 20 }, (_, i) => npRound(npLinspaceAt(0, 999, 21, 20 - i))),
    );
    // leading: arange(0, N + 1) * (T // (N + 1)) reversed, last dropped, plus the offset.
    expect(Array.from(dpmSolverTimesteps('leading', 1000, 20, 1))).toEqual(Array.from({ length: 20 }, (_, i) => (20 - i) * 47 + 1));
    expect(Array.from(dpmSolverTimesteps('trailing', 1000, 25))).toEqual(refDdim('trailing', 1000, 25, 0));
  });

  it('picks the img2img start step as the diffusers pipelines do', () => {
    expect(img2imgStart(50, 0.75)).toBe(50 - 37);
    expect(img2imgStart(50, 0.3)).toBe(35); // 50 * 0.3 = 15.000000000000002
    expect(img2imgStart(10, 0.7)).toBe(3); // 10 * 0.7 = 7.000000000000001
    expect(img2imgStart(10, 1)).toBe(0);
    expect(img2imgStart(10, 0)).toBe(10);
    expect(() => img2imgStart(10, 1.5)).toThrow(GenviewError);
    expect(() => img2imgStart(10, Number.NaN)).toThrow(/strength must be in \[0, 1\]/);
  });
});

describe('sigmas (Euler, DPM-Solver)', () => {
  it('tops out at the Stable Diffusion sigma max of 14.6146', () => {
    const s = new EulerDiscreteScheduler(parseSchedulerConfig({ _class_name: 'EulerDiscreteScheduler', ...SD }), 50);
    expect(s.timesteps[0]).toBe(999);
    expect(s.sigmas[0]).toBeCloseTo(14.6146, 4);
    expect(s.sigmas[50]).toBe(0);
    // linspace spacing: diffusers starts from noise of std sigma_max.
    expect(s.initNoiseSigma).toBeCloseTo(14.6146, 4);
  });

  it('interpolates sigma at fractional timesteps and follows diffusers for initNoiseSigma', () => {
    const s = new EulerDiscreteScheduler(parseSchedulerConfig({ _class_name: 'EulerDiscreteScheduler', ...SD }), 7);
    expect(s.timesteps[3]).toBe(499.5);
    expect(s.sigmas[3]).toBeCloseTo(refSigmaAt(SD_AC, 499.5), 12);
    expect(s.sigmas[3]).toBeCloseTo((refSigmaAt(SD_AC, 499) + refSigmaAt(SD_AC, 500)) / 2, 12);
    const leading = new EulerDiscreteScheduler(parseSchedulerConfig({ _class_name: 'EulerDiscreteScheduler', ...SD, timestep_spacing: 'leading', steps_offset: 1 }), 50);
    expect(leading.timesteps[0]).toBe(981);
    expect(leading.initNoiseSigma).toBeCloseTo(Math.sqrt(refSigmaAt(SD_AC, 981) ** 2 + 1), 10);
    const trailing = new EulerDiscreteScheduler(parseSchedulerConfig({ _class_name: 'EulerDiscreteScheduler', ...SD, timestep_spacing: 'trailing' }), 50);
    expect(trailing.initNoiseSigma).toBeCloseTo(refSigmaAt(SD_AC, 999), 10);
  });

  it('ends on sigma_min when final_sigmas_type says so', () => {
    const s = new EulerDiscreteScheduler(parseSchedulerConfig({ _class_name: 'EulerDiscreteScheduler', ...SD, final_sigmas_type: 'sigma_min' }), 10);
    expect(s.sigmas[10]).toBeCloseTo(Math.sqrt((1 - 0.99915) / 0.99915), 12);
  });

  it('spaces Karras sigmas evenly in sigma^(1/7) and maps each back to its timestep', () => {
    const s = new EulerDiscreteScheduler(parseSchedulerConfig({ _class_name: 'EulerDiscreteScheduler', ...SD, use_karras_sigmas: true }), 12);
    const roots = Array.from(s.sigmas.slice(0, 12), (x) => x ** (1 / 7));
    for (let i = 1; i < 11; i++) expect(roots[i + 1] - 2 * roots[i] + roots[i - 1]).toBeCloseTo(0, 12);
    // Ends: the sigmas of the plain linspace schedule's first (t = 999) and last (t = 0) step.
    expect(s.sigmas[0]).toBeCloseTo(refSigmaAt(SD_AC, 999), 10);
    expect(s.sigmas[11]).toBeCloseTo(refSigmaAt(SD_AC, 0), 10);
    for (let i = 0; i < 12; i++) {
      // The timestep is placed by interpolating log sigma between the bracketing training steps.
      const t = s.timesteps[i];
      const k = Math.min(Math.floor(t), 998);
      const ls = (j: number) => Math.log(refSigmaAt(SD_AC, j));
      expect(Math.exp(ls(k) + (ls(k + 1) - ls(k)) * (t - k))).toBeCloseTo(s.sigmas[i], 4);
    }
  });

  it('DPM-Solver sigmas are the training sigmas at its integer timesteps', () => {
    const s = new DpmSolverMultistepScheduler(parseSchedulerConfig({ _class_name: 'DPMSolverMultistepScheduler', ...SD }), 20);
    for (let i = 0; i < 20; i++) expect(s.sigmas[i]).toBeCloseTo(refSigmaAt(SD_AC, s.timesteps[i]), 12);
    expect(s.sigmas[20]).toBe(0);
    expect(s.initNoiseSigma).toBe(1);
  });
});

describe('model input scaling and forward noising', () => {
  const x = sample(16, 1);
  const n = sample(16, 2);

  it('Euler divides the model input by sqrt(sigma^2 + 1) and noises as x0 + sigma * n', () => {
    const s = createScheduler({ _class_name: 'EulerDiscreteScheduler', ...SD }, 10) as EulerDiscreteScheduler;
    const sigma = s.sigmas[4];
    expect(maxAbsDiff(s.scaleModelInput(x, 4), x.map((v) => v / Math.sqrt(sigma * sigma + 1)))).toBeLessThan(1e-6);
    expect(maxAbsDiff(s.addNoise(x, n, 4), x.map((v, i) => v + sigma * n[i]))).toBeLessThan(1e-6);
  });

  it('DDIM and DPM-Solver pass the input through and noise as sqrt(a) x0 + sqrt(1 - a) n', () => {
    for (const cls of ['DDIMScheduler', 'DPMSolverMultistepScheduler'] as const) {
      const s = createScheduler({ _class_name: cls, ...SD }, 10);
      expect(Array.from(s.scaleModelInput(x, 3))).toEqual(Array.from(x));
      const a = SD_AC[s.timesteps[3]];
      expect(maxAbsDiff(s.addNoise(x, n, 3), x.map((v, i) => Math.sqrt(a) * v + Math.sqrt(1 - a) * n[i]))).toBeLessThan(1e-6);
    }
  });
});

describe('a perfect model recovers x0', () => {
  const x0 = sample(64, 7);
  const eps = sample(64, 8);

  const cases: { name: string; config: SchedulerConfigInput; steps: number; seeded?: boolean; eta?: number }[] = [];
  for (const prediction of ['epsilon', 'v_prediction', 'sample'] as const) {
    for (const spacing of ['leading', 'trailing', 'linspace'] as const) {
      const base = { ...SD, prediction_type: prediction, timestep_spacing: spacing, steps_offset: 1 };
      cases.push({ name: `DDIM ${prediction} ${spacing}`, config: { _class_name: 'DDIMScheduler', ...base }, steps: 50 });
      cases.push({ name: `Euler ${prediction} ${spacing}`, config: { _class_name: 'EulerDiscreteScheduler', ...base }, steps: 30 });
      cases.push({ name: `DPM++ 2M ${prediction} ${spacing}`, config: { _class_name: 'DPMSolverMultistepScheduler', ...base }, steps: 20 });
    }
    cases.push({ name: `DDIM eta=1 ${prediction}`, config: { _class_name: 'DDIMScheduler', ...SD, prediction_type: prediction }, steps: 25, seeded: true, eta: 1 });
    cases.push({ name: `DPM++ 3M ${prediction}`, config: { _class_name: 'DPMSolverMultistepScheduler', ...SD, prediction_type: prediction, solver_order: 3 }, steps: 25 });
    cases.push({
      name: `SDE-DPM++ 2M ${prediction}`,
      config: { _class_name: 'DPMSolverMultistepScheduler', ...SD, prediction_type: prediction, algorithm_type: 'sde-dpmsolver++' },
      steps: 25,
      seeded: true,
    });
  }
  for (const prediction of ['epsilon', 'v_prediction'] as const) {
    cases.push({ name: `Euler ancestral ${prediction}`, config: { _class_name: 'EulerAncestralDiscreteScheduler', ...SD, prediction_type: prediction }, steps: 30, seeded: true });
  }
  cases.push({ name: 'DDIM PNDM export (SD 1.5 config)', config: { _class_name: 'PNDMScheduler', ...SD, set_alpha_to_one: false, steps_offset: 1 }, steps: 50 });

  it.each(cases)('$name', ({ config, steps, seeded, eta }) => {
    const s = createScheduler(config, steps, { eta });
    expect(s.stochastic).toBe(seeded === true);
    const xT = s.addNoise(x0, eps, 0);
    const model = oracle(x0, parseSchedulerConfig(config).prediction_type, aBarAt(SD_AC));
    const out = runLoop(s, xT, model, seeded ? new Rng(3) : undefined);
    // With set_alpha_to_one = false the last DDIM step lands on a_0, not on the clean sample.
    const target = parseSchedulerConfig(config).set_alpha_to_one ? x0 : x0.map((v, i) => Math.sqrt(SD_AC[0]) * v + Math.sqrt(1 - SD_AC[0]) * eps[i]);
    expect(maxAbsDiff(out, target)).toBeLessThan(2e-5);
  });

  it('img2img from a middle step still lands on x0 (DPM history restarts)', () => {
    const s = createScheduler({ _class_name: 'DPMSolverMultistepScheduler', ...SD }, 20);
    const model = oracle(x0, 'epsilon', aBarAt(SD_AC));
    runLoop(s, s.addNoise(x0, eps, 0), model);
    const start = img2imgStart(20, 0.6);
    const out = runLoop(s, s.addNoise(x0, eps, start), model, undefined, start);
    expect(maxAbsDiff(out, x0)).toBeLessThan(2e-5);
  });
});

describe('DPM-Solver++ multistep order', () => {
  /**
   * A model whose x0 prediction is A + B * lambda (lambda = log(alpha / sigma)) along the whole
   * path. The data-prediction ODE then integrates in closed form between any two levels:
   *   x_t = (sigma_t / sigma_s) x_s + alpha_t [(A + B lambda_s)(1 - e^-h) + B (h - 1 + e^-h)],
   * so a second-order multistep step with exact differences (solver_type 'heun') is exact, and a
   * first-order step is not.
   */
  const A = 0.3;
  const B = 0.2;
  const lam = (a: number) => Math.log(Math.sqrt(a) / Math.sqrt(1 - a));

  function stepErrors(config: Partial<SchedulerConfigInput>, steps: number): number[] {
    const s = createScheduler({ _class_name: 'DPMSolverMultistepScheduler', ...SD, final_sigmas_type: 'sigma_min', lower_order_final: false, ...config }, steps);
    const levels = [...Array.from(s.timesteps, (t) => SD_AC[t]), SD_AC[0]];
    let x: Float32Array = new Float32Array([0.8, -1.1, 0.05]);
    const errors: number[] = [];
    for (let i = 0; i < s.timesteps.length; i++) {
      const a = levels[i];
      const x0Hat = A + B * lam(a);
      const epsOut = x.map((v) => (v - Math.sqrt(a) * x0Hat) / Math.sqrt(1 - a));
      const next = s.step(epsOut, i, x);
      const an = levels[i + 1];
      const h = lam(an) - lam(a);
      const exact = x.map((v) => (Math.sqrt(1 - an) / Math.sqrt(1 - a)) * v + Math.sqrt(an) * (x0Hat * (1 - Math.exp(-h)) + B * (h - 1 + Math.exp(-h))));
      errors.push(maxAbsDiff(next, exact));
      x = next;
    }
    return errors;
  }

  it('2M (heun) and 3M are exact on a path linear in lambda once they have history', () => {
    for (const config of [{ solver_order: 2, solver_type: 'heun' }, { solver_order: 3, solver_type: 'heun' }] as const) {
      const errors = stepErrors(config, 20);
      expect(errors[0], 'the first step is first order').toBeGreaterThan(1e-4);
      expect(Math.max(...errors.slice(1)), JSON.stringify(config)).toBeLessThan(1e-6);
    }
  });

  it('2M midpoint is close but not exact, and first order is well off', () => {
    const midpoint = stepErrors({ solver_order: 2, solver_type: 'midpoint' }, 20);
    const first = stepErrors({ solver_order: 1 }, 20);
    for (let i = 1; i < 20; i++) expect(midpoint[i]).toBeLessThan(first[i]);
    expect(Math.max(...first.slice(1))).toBeGreaterThan(1e-3);
  });
});

describe('parity with diffusers step code', () => {
  // Expected values from a numpy transcription of diffusers' set_timesteps/step (float64), fed
  // the same made-up model outputs and noise: sin/cos patterns, so any arithmetic slip shows.
  const L = 4;
  const modelOut = (i: number) => Float32Array.from({ length: L }, (_, j) => Math.sin(0.37 * (i + 1) * (j + 1) + j));
  const noiseAt = (i: number) => Float32Array.from({ length: L }, (_, j) => Math.cos(0.53 * (i + 2) * (j + 1) - j));
  const start = Float32Array.from({ length: L }, (_, j) => Math.sin(1.3 * j + 0.2) * 2);

  it.each([
    ['DDIM eta 0.7, leading', { _class_name: 'DDIMScheduler', timestep_spacing: 'leading', steps_offset: 1 }, 10, 0.7, [-3.848432, 12.03096, 7.892536, -10.38896]],
    ['Euler ancestral', { _class_name: 'EulerAncestralDiscreteScheduler' }, 10, undefined, [-13.71827, -9.926155, 5.628993, 7.501058]],
    ['Euler Karras, v', { _class_name: 'EulerDiscreteScheduler', use_karras_sigmas: true, prediction_type: 'v_prediction' }, 10, undefined, [-0.9326821, 0.572281, -0.1269438, 0.008081829]],
    ['DPM++ 2M, leading', { _class_name: 'DPMSolverMultistepScheduler', timestep_spacing: 'leading', steps_offset: 1 }, 10, undefined, [-1.522298, 14.25618, 7.915064, -11.85762]],
    [
      'SDE-DPM++ 3M Karras, v',
      { _class_name: 'DPMSolverMultistepScheduler', algorithm_type: 'sde-dpmsolver++', solver_order: 3, use_karras_sigmas: true, prediction_type: 'v_prediction' },
      20,
      undefined,
      [1.968618, 0.3527559, -0.01508013, -0.1375168],
    ],
  ] as const)('%s', (_name, config, steps, eta, expected) => {
    const s = createScheduler({ ...SD, ...config }, steps, { eta });
    let x: Float32Array = start;
    for (let i = 0; i < s.timesteps.length; i++) x = s.step(modelOut(i), i, x, () => noiseAt(i));
    for (let j = 0; j < L; j++) expect(Math.abs(x[j] - expected[j])).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected[j])));
  });
});

describe('determinism and statefulness', () => {
  const x0 = sample(32, 11);
  const model = (input: Float32Array) => input.map((v, i) => 0.5 * v + 0.1 * x0[i]);

  it.each([
    ['EulerAncestralDiscreteScheduler', {}],
    ['DDIMScheduler', { eta: 0.5 }],
    ['DPMSolverMultistepScheduler', { algorithm_type: 'sde-dpmsolver++' }],
  ] as const)('%s: same seed, same result; other seed, other result', (cls, extra) => {
    const config = { _class_name: cls, ...SD, ...('algorithm_type' in extra ? extra : {}) };
    const eta = 'eta' in extra ? extra.eta : undefined;
    const run = (seed: number) => {
      const s = createScheduler(config, 15, { eta });
      return runLoop(s, sample(32, 99).map((v) => v * s.initNoiseSigma), model, new Rng(seed));
    };
    expect(Array.from(run(5))).toEqual(Array.from(run(5)));
    expect(maxAbsDiff(run(5), run(6))).toBeGreaterThan(1e-3);
  });

  it('deterministic samplers do not need a noise source and give identical runs', () => {
    for (const cls of ['DDIMScheduler', 'EulerDiscreteScheduler', 'DPMSolverMultistepScheduler'] as const) {
      const a = runLoop(createScheduler({ _class_name: cls, ...SD }, 12), sample(32, 3), model);
      const b = runLoop(createScheduler({ _class_name: cls, ...SD }, 12), sample(32, 3), model);
      expect(Array.from(a)).toEqual(Array.from(b));
    }
  });

  it('a reused DPM-Solver matches a fresh one after reset()', () => {
    const s = createScheduler({ _class_name: 'DPMSolverMultistepScheduler', ...SD }, 12) as DpmSolverMultistepScheduler;
    runLoop(s, sample(32, 3), model);
    s.reset();
    const reused = runLoop(s, sample(32, 4), model);
    const fresh = runLoop(createScheduler({ _class_name: 'DPMSolverMultistepScheduler', ...SD }, 12), sample(32, 4), model);
    expect(Array.from(reused)).toEqual(Array.from(fresh));
  });

  it('does not modify its inputs', () => {
    const s = createScheduler({ _class_name: 'EulerDiscreteScheduler', ...SD }, 10);
    const x = sample(8, 1);
    const copy = x.slice();
    s.scaleModelInput(x, 0);
    s.step(sample(8, 2), 0, x);
    s.addNoise(x, sample(8, 3), 0);
    expect(Array.from(x)).toEqual(Array.from(copy));
  });
});

describe('errors', () => {
  const s = createScheduler({ _class_name: 'DDIMScheduler', ...SD }, 10);

  it('rejects a step index that is a timestep rather than an index', () => {
    expect(() => s.step(new Float32Array(4), 981, new Float32Array(4))).toThrow(/stepIndex must be an integer from 0 to 9; got 981/);
  });

  it('rejects mismatched array sizes', () => {
    expect(() => s.step(new Float32Array(3), 0, new Float32Array(4))).toThrow(/modelOutput has 3 values; expected 4/);
    expect(() => s.addNoise(new Float32Array(4), new Float32Array(5), 0)).toThrow(/BAD_SHAPE/);
  });

  it('asks for a noise source when a step is stochastic, and checks its size', () => {
    const a = createScheduler({ _class_name: 'EulerAncestralDiscreteScheduler', ...SD }, 10);
    expect(() => a.step(new Float32Array(4), 0, new Float32Array(4))).toThrow(/stochastic and needs a noise source/);
    expect(() => a.step(new Float32Array(4), 0, new Float32Array(4), () => new Float32Array(3))).toThrow(/noise source returned an array that has 3 values/);
  });

  it('rejects step counts outside 1..num_train_timesteps and offsets past the last training step', () => {
    expect(() => createScheduler({ _class_name: 'DDIMScheduler', ...SD }, 0)).toThrow(/numInferenceSteps must be an integer from 1 to num_train_timesteps \(1000\); got 0/);
    expect(() => createScheduler({ _class_name: 'EulerDiscreteScheduler', ...SD }, 1001)).toThrow(GenviewError);
    expect(() => createScheduler({ _class_name: 'DDIMScheduler', ...SD, steps_offset: 1 }, 1000)).toThrow(/timestep 1000, beyond the last training step 999/);
    expect(() => createScheduler({ _class_name: 'DDIMScheduler', ...SD }, 10, { eta: -1 })).toThrow(/eta must be a finite number >= 0/);
  });
});
