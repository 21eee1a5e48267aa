import { alphasCumprodFor } from './betas';
import { checkSameLength, checkStepIndex, drawNoise } from './checks';
import type { SchedulerConfig } from './config';
import { karrasSigmas, sigmaToTimestep, sigmasAtTimesteps, trainingSigmas, withFinalSigma } from './sigmas';
import { eulerTimesteps } from './timesteps';
import type { DiffusionScheduler, NoiseSource } from './types';

/**
 * x0 from the model output at noise level sigma. The model saw x / sqrt(sigma^2 + 1), the
 * variance-preserving sample with alpha = 1 / sqrt(sigma^2 + 1), which is why v-prediction
 * carries those factors.
 */
function predictX0(prediction: SchedulerConfig['prediction_type'], x: number, m: number, sigma: number): number {
  if (prediction === 'epsilon') return x - sigma * m;
  if (prediction === 'v_prediction') return m * (-sigma / Math.sqrt(sigma * sigma + 1)) + x / (sigma * sigma + 1);
  return m;
}

/**
 * The Euler samplers work on x = x0 + sigma * eps (k-diffusion's parametrisation), with
 * sigma = sqrt((1 - a) / a) read off the training schedule at each inference timestep.
 */
abstract class SigmaScheduler implements DiffusionScheduler {
  abstract readonly kind: 'euler' | 'euler-ancestral';
  abstract readonly stochastic: boolean;
  readonly numInferenceSteps: number;
  readonly timesteps: Float64Array;
  readonly alphasCumprod: Float64Array;
  /** One per step plus the level the last step lands on. */
  readonly sigmas: Float64Array;
  readonly initNoiseSigma: number;
  protected readonly prediction: SchedulerConfig['prediction_type'];
  protected abstract readonly where: string;

  constructor(config: SchedulerConfig, numInferenceSteps: number, karras: boolean, finalSigmasType: 'zero' | 'sigma_min') {
    this.numInferenceSteps = numInferenceSteps;
    this.prediction = config.prediction_type;
    this.alphasCumprod = alphasCumprodFor(config);
    const train = trainingSigmas(this.alphasCumprod);
    let timesteps = eulerTimesteps(config.timestep_spacing, config.num_train_timesteps, numInferenceSteps, config.steps_offset);
    let sigmas = sigmasAtTimesteps(timesteps, train);
    if (karras) {
      // The ends are the interpolated sigmas of the first and last timestep, not the training
      // extremes: that is what diffusers' EulerDiscreteScheduler spaces between.
      sigmas = karrasSigmas(config.sigma_min ?? sigmas[sigmas.length - 1], config.sigma_max ?? sigmas[0], numInferenceSteps);
      const logTrain = train.map(Math.log);
      timesteps = sigmas.map((s) => Math.fround(sigmaToTimestep(s, logTrain)));
    }
    this.timesteps = timesteps;
    this.sigmas = withFinalSigma(sigmas, finalSigmasType, train);
    const maxSigma = Math.max(...this.sigmas);
    // diffusers' rule, kept for parity: the unit-variance term is added only for leading
    // spacing, whose first timestep sits below the top of the schedule.
    this.initNoiseSigma = config.timestep_spacing === 'leading' ? Math.sqrt(maxSigma * maxSigma + 1) : maxSigma;
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(stepIndex, this.numInferenceSteps, `${this.where}.scaleModelInput`);
    const sigma = this.sigmas[stepIndex];
    const scale = 1 / Math.sqrt(sigma * sigma + 1);
    return sample.map((x) => x * scale);
  }

  abstract step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): Float32Array;

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    const where = `${this.where}.addNoise`;
    checkStepIndex(stepIndex, this.numInferenceSteps, where);
    checkSameLength(original.length, noise, 'noise', where);
    const sigma = this.sigmas[stepIndex];
    const out = new Float32Array(original.length);
    for (let i = 0; i < original.length; i++) out[i] = original[i] + sigma * noise[i];
    return out;
  }

  protected checkStep(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): void {
    checkStepIndex(stepIndex, this.numInferenceSteps, `${this.where}.step`);
    checkSameLength(sample.length, modelOutput, 'modelOutput', `${this.where}.step`);
  }
}

/** Euler's method on the probability-flow ODE dx/dsigma = (x - x0) / sigma (Karras et al., 2022, Algorithm 1 without churn). */
export class EulerDiscreteScheduler extends SigmaScheduler {
  readonly kind = 'euler' as const;
  readonly stochastic = false;
  protected readonly where = 'EulerDiscreteScheduler';

  constructor(config: SchedulerConfig, numInferenceSteps: number) {
    super(config, numInferenceSteps, config.use_karras_sigmas, config.final_sigmas_type);
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): Float32Array {
    this.checkStep(modelOutput, stepIndex, sample);
    const sigma = this.sigmas[stepIndex];
    const dt = this.sigmas[stepIndex + 1] - sigma;
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i];
      const x0 = predictX0(this.prediction, x, modelOutput[i], sigma);
      out[i] = x + ((x - x0) / sigma) * dt;
    }
    return out;
  }
}

/**
 * Euler ancestral (k-diffusion's sample_euler_ancestral): a deterministic step down to sigma_down,
 * then fresh noise of sigma_up, with sigma_down^2 + sigma_up^2 = sigma_next^2 so the marginal
 * noise level still matches the schedule. diffusers' class has no Karras or final-sigma options,
 * so those config fields are ignored here as there.
 */
export class EulerAncestralScheduler extends SigmaScheduler {
  readonly kind = 'euler-ancestral' as const;
  readonly stochastic = true;
  protected readonly where = 'EulerAncestralDiscreteScheduler';

  constructor(config: SchedulerConfig, numInferenceSteps: number) {
    super(config, numInferenceSteps, false, 'zero');
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): Float32Array {
    this.checkStep(modelOutput, stepIndex, sample);
    const sigma = this.sigmas[stepIndex];
    const next = this.sigmas[stepIndex + 1];
    const up = Math.sqrt((next * next * (sigma * sigma - next * next)) / (sigma * sigma));
    const down = Math.sqrt(Math.max(next * next - up * up, 0));
    const dt = down - sigma;
    // The last step lands on sigma = 0 and adds nothing, so it draws nothing from the caller's stream.
    const fresh = up > 0 ? drawNoise(noise, sample.length, `${this.where}.step`) : undefined;
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i];
      const x0 = predictX0(this.prediction, x, modelOutput[i], sigma);
      let value = x + ((x - x0) / sigma) * dt;
      if (fresh) value += up * fresh[i];
      out[i] = value;
    }
    return out;
  }
}
