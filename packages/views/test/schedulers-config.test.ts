import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenviewError } from '@genview/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScheduler, parseDiffusersJson, parseSchedulerConfig, readSchedulerConfig, withSchedulerKind } from '../src/diffusion/schedulers';

/** runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json, as shipped. */
const SD15 = `{
  "_class_name": "PNDMScheduler",
  "_diffusers_version": "0.6.0",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "num_train_timesteps": 1000,
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "trained_betas": null,
  "clip_sample": false
}`;

/** What diffusers' save_config writes for a DPM-Solver: Python's json emits a bare -Infinity. */
const DPM = `{
  "_class_name": "DPMSolverMultistepScheduler",
  "_diffusers_version": "0.21.0",
  "algorithm_type": "dpmsolver++",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "dynamic_thresholding_ratio": 0.995,
  "euler_at_final": false,
  "lambda_min_clipped": -Infinity,
  "lower_order_final": true,
  "num_train_timesteps": 1000,
  "prediction_type": "epsilon",
  "sample_max_value": 1.0,
  "solver_order": 2,
  "solver_type": "midpoint",
  "steps_offset": 1,
  "thresholding": false,
  "timestep_spacing": "leading",
  "trained_betas": null,
  "use_karras_sigmas": false,
  "variance_type": null,
  "note": "a string with Infinity and NaN in it stays a string"
}`;

function invalid(raw: unknown): GenviewError {
  try {
    parseSchedulerConfig(raw, 'model/scheduler/scheduler_config.json');
  } catch (error) {
    expect(error).toBeInstanceOf(GenviewError);
    return error as GenviewError;
  }
  throw new Error('expected the config to be rejected');
}

describe('scheduler_config.json', () => {
  it('reads the SD 1.5 PNDM export as DDIM with its trained schedule, ignoring unknown keys', () => {
    const config = parseSchedulerConfig(parseDiffusersJson(SD15));
    expect(config.kind).toBe('ddim');
    expect(config._class_name).toBe('PNDMScheduler');
    expect(config).toMatchObject({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1, set_alpha_to_one: false, timestep_spacing: 'leading' });
    expect(config).not.toHaveProperty('skip_prk_steps');
    expect(config).not.toHaveProperty('trained_betas');
    expect(Array.from(createScheduler(config, 50).timesteps.slice(0, 3))).toEqual([981, 961, 941]);
  });

  it('parses the bare -Infinity Python writes, leaving strings alone', () => {
    const raw = parseDiffusersJson(DPM) as Record<string, unknown>;
    expect(raw.lambda_min_clipped).toBe(Number.NEGATIVE_INFINITY);
    expect(raw.note).toBe('a string with Infinity and NaN in it stays a string');
    expect(parseDiffusersJson('{"a": [NaN, Infinity]}')).toEqual({ a: [Number.NaN, Number.POSITIVE_INFINITY] });
    const config = parseSchedulerConfig(raw);
    expect(config.kind).toBe('dpm-solver');
    expect(config.lambda_min_clipped).toBe(Number.NEGATIVE_INFINITY);
    // leading over N + 1 points: (20 - i) * (1000 // 21) + 1.
    expect(createScheduler(config, 20).timesteps[0]).toBe(20 * 47 + 1);
  });

  it('fills in the defaults, with the timestep spacing of the named class', () => {
    const ddim = parseSchedulerConfig({ _class_name: 'DDIMScheduler' });
    expect(ddim).toMatchObject({
      num_train_timesteps: 1000,
      beta_start: 0.0001,
      beta_end: 0.02,
      beta_schedule: 'linear',
      prediction_type: 'epsilon',
      timestep_spacing: 'leading',
      steps_offset: 0,
      set_alpha_to_one: true,
      clip_sample: false,
      clip_sample_range: 1,
      use_karras_sigmas: false,
      algorithm_type: 'dpmsolver++',
      solver_order: 2,
      lower_order_final: true,
      final_sigmas_type: 'zero',
      interpolation_type: 'linear',
    });
    expect(parseSchedulerConfig({ _class_name: 'EulerDiscreteScheduler' }).timestep_spacing).toBe('linspace');
    expect(parseSchedulerConfig({ _class_name: 'DPMSolverMultistepScheduler' }).timestep_spacing).toBe('linspace');
    expect(parseSchedulerConfig({ _class_name: 'DDPMScheduler' }).kind).toBe('ddim');
    expect(parseSchedulerConfig({ _class_name: 'EulerAncestralDiscreteScheduler' }).kind).toBe('euler-ancestral');
    // diffusers runs 'deis' as dpmsolver++, and the UniPC solver names as midpoint.
    expect(parseSchedulerConfig({ _class_name: 'DPMSolverMultistepScheduler', algorithm_type: 'deis', solver_type: 'bh2' })).toMatchObject({
      algorithm_type: 'dpmsolver++',
      solver_type: 'midpoint',
    });
  });

  it('swaps the sampler while keeping the trained schedule, as from_config does', () => {
    const sd = parseSchedulerConfig(parseDiffusersJson(SD15));
    const euler = withSchedulerKind(sd, 'euler');
    expect(euler.kind).toBe('euler');
    expect(euler.timestep_spacing).toBe('linspace'); // the file named none, so Euler's default
    expect(euler.beta_schedule).toBe('scaled_linear');
    const explicit = withSchedulerKind(parseSchedulerConfig({ _class_name: 'DDIMScheduler', timestep_spacing: 'trailing' }), 'dpm-solver');
    expect(explicit.timestep_spacing).toBe('trailing');
    const s = createScheduler(sd, 25, 'euler-ancestral');
    expect(s.kind).toBe('euler-ancestral');
    expect(s.timesteps[0]).toBe(999);
  });

  it('names the file, the field and the expected type for a wrong type', () => {
    const error = invalid({ _class_name: 'DDIMScheduler', beta_start: '0.0001' });
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.where).toBe('model/scheduler/scheduler_config.json');
    expect(error.message).toMatch(/beta_start: .*expected number, received string/);
    expect(invalid({ _class_name: 'DDIMScheduler', num_train_timesteps: 999.5 }).message).toMatch(/num_train_timesteps: .*int/i);
    expect(invalid({ _class_name: 'DDIMScheduler', steps_offset: -1 }).message).toMatch(/steps_offset/);
    expect(invalid({ _class_name: 'DDIMScheduler', set_alpha_to_one: 'yes' }).message).toMatch(/set_alpha_to_one: .*expected boolean/);
    expect(invalid('not an object').message).toMatch(/expected object/);
  });

  it('lists the accepted values for a bad enum', () => {
    expect(invalid({ _class_name: 'DDIMScheduler', beta_schedule: 'sigmoid' }).message).toMatch(/beta_schedule: .*"linear"\|"scaled_linear"\|"squaredcos_cap_v2"/);
    expect(invalid({ _class_name: 'DDIMScheduler', prediction_type: 'flow_prediction' }).message).toMatch(/prediction_type: .*"epsilon"\|"v_prediction"\|"sample"/);
    expect(invalid({ _class_name: 'DDIMScheduler', timestep_spacing: 'uniform' }).message).toMatch(/timestep_spacing: .*"leading"\|"trailing"\|"linspace"/);
    expect(invalid({ _class_name: 'DPMSolverMultistepScheduler', algorithm_type: 'dpmsolver' }).message).toMatch(/algorithm_type/);
  });

  it('rejects a scheduler class it cannot run, naming those it can', () => {
    const error = invalid({ _class_name: 'LMSDiscreteScheduler' });
    expect(error.message).toMatch(/_class_name: .*"DDIMScheduler"/);
    expect(error.message).toMatch(/EulerAncestralDiscreteScheduler/);
    expect(error.fix).toMatch(/DPMSolverMultistepScheduler/);
    expect(invalid({ beta_start: 0.001 }).message).toMatch(/_class_name/);
  });

  it('rejects options that would change the schedule in ways not implemented, but accepts them off', () => {
    expect(invalid({ _class_name: 'DDIMScheduler', rescale_betas_zero_snr: true }).message).toMatch(/rescale_betas_zero_snr: zero-terminal-SNR rescaling is not implemented/);
    expect(invalid({ _class_name: 'DDIMScheduler', thresholding: true }).message).toMatch(/thresholding/);
    expect(invalid({ _class_name: 'EulerDiscreteScheduler', interpolation_type: 'log_linear' }).message).toMatch(/interpolation_type/);
    expect(invalid({ _class_name: 'EulerDiscreteScheduler', prediction_type: 'v_prediction', timestep_type: 'continuous' }).message).toMatch(/timestep_type/);
    expect(parseSchedulerConfig({ _class_name: 'DDIMScheduler', rescale_betas_zero_snr: false, thresholding: false }).kind).toBe('ddim');
  });

  it('checks trained_betas against num_train_timesteps', () => {
    expect(invalid({ _class_name: 'DDIMScheduler', num_train_timesteps: 4, trained_betas: [0.1, 0.2, 0.3] }).message).toMatch(
      /trained_betas: has 3 entries; expected one per training step \(num_train_timesteps = 4\)/,
    );
    expect(invalid({ _class_name: 'DDIMScheduler', num_train_timesteps: 2, trained_betas: [0.1, 1.5] }).message).toMatch(/trained_betas\[1\]/);
    const ok = parseSchedulerConfig({ _class_name: 'DDIMScheduler', num_train_timesteps: 3, trained_betas: [0.1, 0.2, 0.3] });
    expect(ok.trained_betas).toEqual([0.1, 0.2, 0.3]);
  });
});

describe('readSchedulerConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'genview-schedulers-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a config from disk', async () => {
    const file = join(dir, 'dpm.json');
    await writeFile(file, DPM);
    const config = await readSchedulerConfig(file);
    expect(config.kind).toBe('dpm-solver');
    expect(config.steps_offset).toBe(1);
  });

  it('reports a missing file, bad JSON and a bad field with the file path', async () => {
    await expect(readSchedulerConfig(join(dir, 'missing.json'))).rejects.toThrow(/UNREADABLE_FILE.*missing\.json/);
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{"_class_name": "DDIMScheduler",');
    await expect(readSchedulerConfig(broken)).rejects.toThrow(/INVALID_CONFIG.*broken\.json: not valid JSON/);
    const wrong = join(dir, 'wrong.json');
    await writeFile(wrong, '{"_class_name": "DDIMScheduler", "solver_order": 4}');
    await expect(readSchedulerConfig(wrong)).rejects.toThrow(/wrong\.json: invalid scheduler config:\n {2}solver_order: /);
  });
});
