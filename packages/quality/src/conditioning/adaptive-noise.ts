import {
  type Conditioning,
  type ConditioningInput,
  GenviewError,
  type GenerationParams,
  type Rng,
  definePlugin,
  viewSeed,
  z,
} from '@genview/core';
import type { ForegroundDirection } from '../foreground/direction';
import { type TokenEncoder, patchTokensOf, requireTokenEncoder } from '../foreground/token-encoder';
import { foregroundRatios } from '../foreground/masks';
import { GENVIEW_NOISE_BINS, type NoiseLevelBins, noiseLevelBinsSchema, noiseLevelsForRatios, validateNoiseLevelBins } from '../foreground/noise-level';
import { directionConfigSchema, encoderConfigSchema, obtainTokenEncoder, resolveDirection } from '../scorers/shared';

const NAME = 'genview-adaptive-noise';

export const adaptiveNoiseSchema = z
  .object({
    strategy: z
      .enum(['adaptive', 'fixed', 'random'])
      .default('adaptive')
      .describe('adaptive: from the foreground ratio (GenView); fixed: one level; random: uniform over `levels` (ablations)'),
    encoder: encoderConfigSchema.optional().describe('frozen encoder with patch tokens, resolved by the host (adaptive only)'),
    direction: directionConfigSchema.optional().describe('foreground direction file from `genview fit-foreground`, or {vector, threshold}'),
    bins: noiseLevelBinsSchema.describe('foreground-ratio bin edges and their noise levels'),
    level: z.number().int().min(0).max(999).default(0).describe('noise level of the fixed strategy'),
    levels: z.array(z.number().int().min(0).max(999)).min(1).default([0, 100, 200, 300, 400]).describe('choices of the random strategy'),
    guidanceScale: z.number().min(0).max(50).optional().describe('passed to the generator; its default when unset'),
    steps: z.number().int().min(1).max(1000).optional().describe('denoising steps; the generator default when unset'),
  })
  .strict();
export type AdaptiveNoiseOptions = z.input<typeof adaptiveNoiseSchema>;

export interface AdaptiveNoiseDependencies {
  /** A FeatureExtractor with patch tokens, or an encoder outside TensorFlow.js (an ONNX image tower). */
  extractor?: TokenEncoder;
  direction?: ForegroundDirection;
}

/**
 * Chooses unCLIP noise levels per image. GenView's rule: the bigger the share of the image its subject
 * takes (hard foreground mask from patch tokens projected on the fitted direction), the more noise the
 * conditioning embedding may take, so small subjects are not lost in their generated views.
 */
export class AdaptiveNoiseConditioning implements Conditioning {
  readonly name = NAME;
  readonly options: z.output<typeof adaptiveNoiseSchema>;
  private readonly bins: NoiseLevelBins;

  constructor(
    options: AdaptiveNoiseOptions,
    private readonly deps: AdaptiveNoiseDependencies = {},
    private readonly where = NAME,
  ) {
    this.options = adaptiveNoiseSchema.parse(options);
    this.bins = this.options.bins ?? GENVIEW_NOISE_BINS;
    validateNoiseLevelBins(this.bins, `${where}.bins`);
    if (this.options.strategy === 'adaptive') {
      if (deps.extractor === undefined || deps.direction === undefined) {
        throw new GenviewError('INVALID_CONFIG', 'the adaptive strategy needs a frozen encoder and a foreground direction.', {
          where: `${where}.${deps.extractor === undefined ? 'encoder' : 'direction'}`,
          fix: 'set encoder (a name the host resolves) and direction (the file written by `genview fit-foreground`), or use strategy fixed/random.',
        });
      }
      requireTokenEncoder(deps.extractor, `${where}.encoder`);
    }
  }

  /** Foreground ratio per image (adaptive only). */
  async foregroundRatios(input: ConditioningInput): Promise<Float64Array> {
    const { extractor, direction } = this.deps;
    if (input.images === undefined) {
      throw new GenviewError('BAD_INPUT', 'the adaptive strategy needs the images.', { where: this.where, fix: 'pass images [N, H, W, C] with the indices.' });
    }
    const tokens = await patchTokensOf(requireTokenEncoder(extractor, this.where), input.images);
    try {
      return foregroundRatios(tokens, direction as ForegroundDirection);
    } finally {
      tokens.dispose();
    }
  }

  async decide(input: ConditioningInput, rng: Rng): Promise<GenerationParams[]> {
    const n = input.indices.length;
    let levels: ArrayLike<number>;
    if (this.options.strategy === 'adaptive') {
      levels = noiseLevelsForRatios(await this.foregroundRatios(input), this.bins);
    } else if (this.options.strategy === 'fixed') {
      levels = new Array(n).fill(this.options.level);
    } else {
      const choices = this.options.levels;
      levels = Array.from(input.indices, (index) => choices[rng.fork(`level:${index}`).int(choices.length)] as number);
    }
    return Array.from(input.indices, (index, i) => ({
      source: 'image' as const,
      noiseLevel: levels[i] as number,
      guidanceScale: this.options.guidanceScale,
      steps: this.options.steps,
      seed: viewSeed(rng, index),
    }));
  }
}

export const adaptiveNoisePlugin = definePlugin({
  kind: 'conditioning',
  name: NAME,
  package: '@genview/quality',
  description: "GenView's per-image unCLIP noise level from the foreground ratio (or fixed/random levels for ablations).",
  configSchema: adaptiveNoiseSchema,
  create: async (config, context) => {
    if (config.strategy !== 'adaptive') return new AdaptiveNoiseConditioning(config, {}, context.path);
    if (config.encoder === undefined || config.direction === undefined) {
      throw new GenviewError('INVALID_CONFIG', 'the adaptive strategy needs encoder and direction.', {
        where: `${context.path}.${config.encoder === undefined ? 'encoder' : 'direction'}`,
        fix: 'run `genview fit-foreground` to write a direction file, then set encoder and direction; or use strategy fixed/random.',
      });
    }
    const extractor = await obtainTokenEncoder(context, config.encoder);
    const direction = await resolveDirection(config.direction, `${context.path}.direction`);
    return new AdaptiveNoiseConditioning(config, { extractor, direction }, context.path);
  },
});
