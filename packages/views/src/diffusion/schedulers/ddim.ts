import { GenviewError } from '@genview/core';
import { alphasCumprodFor } from './betas';
import { checkSameLength, checkStepIndex, drawNoise } from './checks';
import type { SchedulerConfig } from './config';
import { addNoiseAtTimestep } from './forward-noise';
import { ddimTimesteps } from './timesteps';
import type { DiffusionScheduler, NoiseSource } from './types';

export interface DdimOptions {
  /**
   * Weight of the fresh noise per step (Song et al., eq. 16): 0 is the deterministic DDIM ODE
   * sampler, 1 with every training step is DDPM's ancestral sampler.
   */
  eta?: number;
}

const WHERE = 'DDIMScheduler';

/** DDIM (Song et al., 2021) over a diffusers config, in the variance-preserving x_t = sqrt(a) x0 + sqrt(1 - a) eps. */
export class DdimScheduler implements DiffusionScheduler {
  readonly kind = 'ddim' as const;
  readonly numInferenceSteps: number;
  readonly timesteps: Float64Array;
  readonly initNoiseSigma = 1;
  readonly alphasCumprod: Float64Array;
  readonly stochastic: boolean;
  readonly eta: number;
  private readonly config: SchedulerConfig;
  /** alpha_bar "before" step 0 for the last jump: 1 (a clean sample) or alphas_cumprod[0]. */
  private readonly finalAlphaCumprod: number;
  private readonly stepRatio: number;

  constructor(config: SchedulerConfig, numInferenceSteps: number, options: DdimOptions = {}) {
    const eta = options.eta ?? 0;
    if (!(eta >= 0) || !Number.isFinite(eta)) {
      throw new GenviewError('BAD_INPUT', `eta must be a finite number >= 0; got ${eta}.`, { where: `${WHERE}.eta`, fix: 'use 0 for deterministic DDIM, 1 for DDPM-like sampling.' });
    }
    this.config = config;
    this.eta = eta;
    this.stochastic = eta > 0;
    this.numInferenceSteps = numInferenceSteps;
    this.alphasCumprod = alphasCumprodFor(config);
    this.finalAlphaCumprod = config.set_alpha_to_one ? 1 : this.alphasCumprod[0];
    this.timesteps = ddimTimesteps(config.timestep_spacing, config.num_train_timesteps, numInferenceSteps, config.steps_offset);
    // diffusers steps back by T // N whatever the spacing (for trailing it can be one off the
    // next listed timestep); following it keeps samples comparable with diffusers runs.
    this.stepRatio = Math.floor(config.num_train_timesteps / numInferenceSteps);
    const top = this.timesteps[0];
    if (top >= config.num_train_timesteps) {
      throw new GenviewError(
        'INVALID_CONFIG',
        `steps_offset ${config.steps_offset} with ${numInferenceSteps} leading steps gives timestep ${top}, beyond the last training step ${config.num_train_timesteps - 1}.`,
        { where: `${WHERE}.steps_offset`, fix: 'use fewer inference steps, or the steps_offset the model was exported with (0 or 1).' },
      );
    }
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(stepIndex, this.numInferenceSteps, `${WHERE}.scaleModelInput`);
    return sample.slice();
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): Float32Array {
    const where = `${WHERE}.step`;
    checkStepIndex(stepIndex, this.numInferenceSteps, where);
    checkSameLength(sample.length, modelOutput, 'modelOutput', where);
    const t = this.timesteps[stepIndex];
    const prevT = t - this.stepRatio;
    const aT = this.alphasCumprod[t];
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const sqrtA = Math.sqrt(aT);
    const sqrtB = Math.sqrt(1 - aT);
    const variance = ((1 - aPrev) / (1 - aT)) * (1 - aT / aPrev);
    const std = this.eta * Math.sqrt(variance);
    const sqrtAPrev = Math.sqrt(aPrev);
    // Clamped at 0: with eta > 1 the noise term would claim more variance than the step has.
    const direction = Math.sqrt(Math.max(1 - aPrev - std * std, 0));
    const clip = this.config.clip_sample ? this.config.clip_sample_range : Number.POSITIVE_INFINITY;
    const prediction = this.config.prediction_type;
    const fresh = std > 0 ? drawNoise(noise, sample.length, where) : undefined;

    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i];
      const m = modelOutput[i];
      let x0: number;
      let eps: number;
      if (prediction === 'epsilon') {
        x0 = (x - sqrtB * m) / sqrtA;
        eps = m;
      } else if (prediction === 'v_prediction') {
        x0 = sqrtA * x - sqrtB * m;
        eps = sqrtA * m + sqrtB * x;
      } else {
        x0 = m;
        eps = (x - sqrtA * x0) / sqrtB;
      }
      // Like diffusers without use_clipped_model_output: eps keeps the unclipped prediction.
      if (x0 > clip) x0 = clip;
      else if (x0 < -clip) x0 = -clip;
      let prev = sqrtAPrev * x0 + direction * eps;
      if (fresh) prev += std * fresh[i];
      out[i] = prev;
    }
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(stepIndex, this.numInferenceSteps, `${WHERE}.addNoise`);
    return addNoiseAtTimestep(original, noise, this.timesteps[stepIndex], this.alphasCumprod);
  }
}
