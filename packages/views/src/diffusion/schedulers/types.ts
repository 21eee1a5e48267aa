/** The samplers behind the diffusers classes a scheduler_config.json may name. */
export type SchedulerKind = 'ddim' | 'euler' | 'euler-ancestral' | 'dpm-solver';

/** Draws one array of standard normals the size of the sample; the caller seeds it. */
export type NoiseSource = () => Float32Array;

/**
 * One denoising schedule fixed for a number of inference steps, driven by step index rather than
 * by timestep value (diffusers looks the index up from the timestep; repeated timesteps and img2img
 * starts make that lookup fragile, and the caller always knows the index).
 *
 * Arrays are flat Float32Array samples of any shape; the model runs outside (onnxruntime-node).
 * Nothing is mutated: every call returns a new array.
 *
 * ```ts
 * const s = createScheduler(config, 30);
 * let x = scaled(noise, s.initNoiseSigma);
 * for (let i = 0; i < s.timesteps.length; i++) {
 *   const eps = await unet(s.scaleModelInput(x, i), s.timesteps[i]);
 *   x = s.step(eps, i, x, () => rng.normalArray(x.length));
 * }
 * ```
 */
export interface DiffusionScheduler {
  readonly kind: SchedulerKind;
  readonly numInferenceSteps: number;
  /** The model's timestep input per step (integers for DDIM and DPM-Solver, float32 values for Euler). */
  readonly timesteps: Float64Array;
  /** Standard deviation of the starting noise for text-to-image: x_T = noise * initNoiseSigma. */
  readonly initNoiseSigma: number;
  /** Cumulative products of (1 - beta) over the training steps. */
  readonly alphasCumprod: Float64Array;
  /** True when `step` draws from the noise source (ancestral Euler, DDIM with eta > 0, SDE DPM-Solver). */
  readonly stochastic: boolean;
  /** The model input for step `stepIndex` (Euler divides by sqrt(sigma^2 + 1); the others pass the sample through). */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array;
  /** One denoising step: returns the sample for the next step. `noise` is required only when `stochastic`. */
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource): Float32Array;
  /** Noises clean latents to the level of step `stepIndex` (the img2img start). */
  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array;
}
