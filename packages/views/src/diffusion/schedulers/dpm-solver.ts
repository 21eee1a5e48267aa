import { alphasCumprodFor } from './betas';
import { checkSameLength, checkStepIndex, drawNoise } from './checks';
import type { SchedulerConfig } from './config';
import { karrasSigmas, sigmaToTimestep, sigmasAtTimesteps, trainingSigmas, withFinalSigma } from './sigmas';
import { dpmSolverTimesteps } from './timesteps';
import type { DiffusionScheduler, NoiseSource } from './types';

const WHERE = 'DPMSolverMultistepScheduler';

/** alpha_t, sigma_t (variance preserving) and lambda_t = log(alpha_t / sigma_t) at a k-diffusion sigma. */
interface Level {
  alpha: number;
  sigma: number;
  lambda: number;
}

function level(kSigma: number): Level {
  const alpha = 1 / Math.sqrt(kSigma * kSigma + 1);
  const sigma = kSigma * alpha;
  // sigma = 0 (the clean end) gives lambda = +Infinity, h = Infinity and exp(-h) = 0, which is
  // exactly the limit the update formulas need, so it needs no special case.
  return { alpha, sigma, lambda: Math.log(alpha) - Math.log(sigma) };
}

/** The index of the first entry >= value in an ascending array (torch.searchsorted, side left). */
function searchSorted(ascending: Float64Array, value: number): number {
  let i = 0;
  while (i < ascending.length && ascending[i] < value) i++;
  return i;
}

/**
 * DPM-Solver++ multistep (Lu et al., 2022) in its data-prediction form, as diffusers'
 * DPMSolverMultistepScheduler with algorithm_type 'dpmsolver++' (2M by default, solver_order 1-3)
 * or 'sde-dpmsolver++'. Model outputs are first turned into x0 predictions; the step integrates
 * exactly in lambda = log(alpha / sigma) with those predictions extrapolated from earlier steps.
 *
 * The history of x0 predictions lives in the scheduler. A step whose index does not follow the
 * previous call's starts a fresh history (as diffusers' set_timesteps does); call `reset()` when a
 * new run could start right after the index an aborted run stopped at.
 *
 * For models with learned variance (variance_type 'learned_range'), pass only the epsilon channels.
 */
export class DpmSolverMultistepScheduler implements DiffusionScheduler {
  readonly kind = 'dpm-solver' as const;
  readonly numInferenceSteps: number;
  readonly timesteps: Float64Array;
  readonly initNoiseSigma = 1;
  readonly alphasCumprod: Float64Array;
  readonly stochastic: boolean;
  /** k-diffusion sigmas, one per step plus the final one. */
  readonly sigmas: Float64Array;
  private readonly config: SchedulerConfig;
  private readonly levels: Level[];
  private history: { index: number; x0: Float32Array }[] = [];

  constructor(config: SchedulerConfig, numInferenceSteps: number) {
    this.config = config;
    this.stochastic = config.algorithm_type === 'sde-dpmsolver++';
    const T = config.num_train_timesteps;
    this.alphasCumprod = alphasCumprodFor(config);
    const train = trainingSigmas(this.alphasCumprod);
    const lambdas = this.alphasCumprod.map((a) => Math.log(Math.sqrt(a)) - Math.log(Math.sqrt(1 - a)));
    const lastTimestep = T - searchSorted(lambdas.slice().reverse(), config.lambda_min_clipped);
    let timesteps = dpmSolverTimesteps(config.timestep_spacing, T, numInferenceSteps, config.steps_offset, lastTimestep);
    let sigmas: Float64Array;
    if (config.use_karras_sigmas) {
      sigmas = karrasSigmas(train[0], train[T - 1], numInferenceSteps);
      const logTrain = train.map(Math.log);
      // diffusers rounds these except for the cosine schedule, then stores them as int64, which
      // truncates the unrounded ones.
      const toInt = config.beta_schedule === 'squaredcos_cap_v2' ? Math.trunc : Math.round;
      timesteps = sigmas.map((s) => toInt(sigmaToTimestep(s, logTrain)));
    } else {
      sigmas = sigmasAtTimesteps(timesteps, train);
    }
    this.timesteps = timesteps;
    this.numInferenceSteps = timesteps.length;
    this.sigmas = withFinalSigma(sigmas, config.final_sigmas_type, train);
    this.levels = Array.from(this.sigmas, level);
  }

  /** Forgets the earlier x0 predictions, so the next step is first order. */
  reset(): void {
    this.history = [];
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(stepIndex, this.numInferenceSteps, `${WHERE}.scaleModelInput`);
    return sample.slice();
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): Float32Array {
    const where = `${WHERE}.step`;
    checkStepIndex(stepIndex, this.numInferenceSteps, where);
    checkSameLength(sample.length, modelOutput, 'modelOutput', where);
    const c = this.config;
    const n = this.numInferenceSteps;

    const last = this.history[this.history.length - 1];
    if (last && last.index !== stepIndex - 1) this.history = [];
    const previous = this.history.length;
    this.history.push({ index: stepIndex, x0: this.predictX0(modelOutput, sample, stepIndex) });
    if (this.history.length > 3) this.history.shift();

    // Few steps make the extrapolation from earlier x0 predictions unreliable at the end, where
    // the steps in lambda are longest, and a final sigma of 0 (lambda = Infinity) admits only the
    // first-order formula.
    const lowerOrderFinal = stepIndex === n - 1 && (c.euler_at_final || (c.lower_order_final && n < 15) || c.final_sigmas_type === 'zero');
    const lowerOrderSecond = stepIndex === n - 2 && c.lower_order_final && n < 15;
    let order = 3;
    if (c.solver_order === 1 || previous < 1 || lowerOrderFinal) order = 1;
    else if (c.solver_order === 2 || previous < 2 || lowerOrderSecond) order = 2;

    const t = this.levels[stepIndex + 1];
    const s0 = this.levels[stepIndex];
    const h = t.lambda - s0.lambda;
    const sde = this.stochastic;
    const fresh = sde && t.sigma > 0 ? drawNoise(noise, sample.length, where) : undefined;

    // x_t = cx * x + c0 * D0 + c1 * D1 + c2 * D2 + cn * noise, with D the x0 differences.
    let cx: number;
    let c0: number;
    let cn = 0;
    let c1 = 0;
    let c2 = 0;
    if (sde) {
      const e2 = -Math.expm1(-2 * h); // 1 - exp(-2h)
      cx = (t.sigma / s0.sigma) * Math.exp(-h);
      c0 = t.alpha * e2;
      cn = t.sigma * Math.sqrt(e2);
      if (order === 2 && c.solver_type === 'midpoint') c1 = 0.5 * t.alpha * e2;
      else if (order >= 2) c1 = t.alpha * (e2 / (-2 * h) + 1);
      if (order === 3) c2 = t.alpha * ((e2 - 2 * h) / (2 * h) ** 2 - 0.5);
    } else {
      const em = Math.expm1(-h); // exp(-h) - 1
      cx = t.sigma / s0.sigma;
      c0 = -t.alpha * em;
      if (order === 2 && c.solver_type === 'midpoint') c1 = -0.5 * t.alpha * em;
      else if (order >= 2) c1 = t.alpha * (em / h + 1);
      if (order === 3) c2 = -t.alpha * ((em + h) / (h * h) - 0.5);
    }

    const hist = this.history;
    const m0 = hist[hist.length - 1].x0;
    const m1 = order >= 2 ? hist[hist.length - 2].x0 : m0;
    const m2 = order === 3 ? hist[hist.length - 3].x0 : m0;
    // Divided differences in lambda, scaled by the current step h (r = earlier step / h).
    let r0 = 1;
    let r1 = 1;
    if (order >= 2) {
      const s1 = this.levels[stepIndex - 1];
      r0 = (s0.lambda - s1.lambda) / h;
      if (order === 3) r1 = (s1.lambda - this.levels[stepIndex - 2].lambda) / h;
    }

    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      let value = cx * sample[i] + c0 * m0[i];
      if (order === 2) {
        value += c1 * ((m0[i] - m1[i]) / r0);
      } else if (order === 3) {
        const d10 = (m0[i] - m1[i]) / r0;
        const d11 = (m1[i] - m2[i]) / r1;
        value += c1 * (d10 + (r0 / (r0 + r1)) * (d10 - d11)) + c2 * ((d10 - d11) / (r0 + r1));
      }
      if (fresh) value += cn * fresh[i];
      out[i] = value;
    }
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    const where = `${WHERE}.addNoise`;
    checkStepIndex(stepIndex, this.numInferenceSteps, where);
    checkSameLength(original.length, noise, 'noise', where);
    const { alpha, sigma } = this.levels[stepIndex];
    const out = new Float32Array(original.length);
    for (let i = 0; i < original.length; i++) out[i] = alpha * original[i] + sigma * noise[i];
    return out;
  }

  private predictX0(modelOutput: Float32Array, sample: Float32Array, stepIndex: number): Float32Array {
    const { alpha, sigma } = this.levels[stepIndex];
    const prediction = this.config.prediction_type;
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i];
      const m = modelOutput[i];
      if (prediction === 'epsilon') out[i] = (x - sigma * m) / alpha;
      else if (prediction === 'v_prediction') out[i] = alpha * x - sigma * m;
      else out[i] = m;
    }
    return out;
  }
}
