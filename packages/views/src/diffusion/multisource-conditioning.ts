import {
  type CaptionComplexityScorer,
  type Conditioning,
  type ConditioningInput,
  type GenerationParams,
  GenviewError,
  type PluginContext,
  type Rng,
  definePlugin,
  viewSeed,
  z,
} from '@genview/core';
import { GENVIEW_PP_GUIDANCE, checkComplexity } from '../text/caption-complexity';

const NAME = 'genview++-multisource';

export const GENERATION_SOURCES = ['image', 'text', 'image+text'] as const;
type Source = GenerationParams['source'];

const pluginRef = z.union([z.string().min(1), z.looseObject({ name: z.string().min(1) })]);

const THIRD = 1 / 3;

export const multiSourceSchema = z
  .object({
    proportions: z
      .object({
        image: z.number().min(0).default(THIRD),
        text: z.number().min(0).default(THIRD),
        'image+text': z.number().min(0).default(THIRD),
      })
      .strict()
      .default({ image: THIRD, text: THIRD, 'image+text': THIRD })
      .describe('relative share of each source (normalised by their sum): unCLIP image variation, text-to-image, unCLIP image + caption'),
    noise: pluginRef
      .default({ name: 'genview-adaptive-noise' })
      .describe('conditioning plugin that picks the noise level of image-conditioned sources, e.g. { name: genview-adaptive-noise, strategy: fixed, level: 100 }'),
    complexity: pluginRef.default('rule-based').describe('caption complexity scorer (1..4) behind the guidance of text-conditioned sources'),
    guidance: z
      .array(z.number().min(0).max(50))
      .length(4)
      .default([...GENVIEW_PP_GUIDANCE])
      .describe('guidance scale of text-conditioned sources for caption complexity 1, 2, 3, 4'),
    imageGuidance: z.number().min(0).max(50).default(10).describe('guidance scale of the image-only source'),
    stratify: z
      .boolean()
      .default(true)
      .describe("with several views per image, share each image's views among the sources in proportion (one of each for three views and equal shares) instead of drawing every view's source alone"),
    steps: z.number().int().min(1).max(1000).default(20).describe('denoising steps of every view'),
  })
  .strict();
export type MultiSourceOptions = z.input<typeof multiSourceSchema>;
type Proportions = z.output<typeof multiSourceSchema>['proportions'];

export interface MultiSourceDependencies {
  /** Picks noise levels; needed when an image-conditioned source has a share. */
  noise?: Conditioning;
  /** Scores captions; needed when a text-conditioned source has a share. */
  complexity?: CaptionComplexityScorer;
  /**
   * The plugin's own stream for per-image source plans (stratify): fixed at creation, because each view
   * of an image is decided with a different rng and the plan must be the same for all of them.
   */
  planRng?: Rng;
}

const usesImage = (p: Proportions) => p.image + p['image+text'] > 0;
const usesText = (p: Proportions) => p.text + p['image+text'] > 0;

function checkProportions(p: Proportions, where: string): void {
  const values = GENERATION_SOURCES.map((s) => p[s]);
  if (!values.every((v) => Number.isFinite(v) && v >= 0) || !(values.reduce((a, b) => a + b, 0) > 0)) {
    throw new GenviewError('INVALID_CONFIG', `proportions must be non-negative with a positive sum, got ${JSON.stringify(p)}.`, {
      where: `${where}.proportions`,
      fix: "give at least one source a share, e.g. { image: 1, text: 1, 'image+text': 1 } (GenView++), or { image: 1, text: 0, 'image+text': 0 } for image variations only.",
    });
  }
}

/**
 * GenView++'s multi-source views: each sample draws its source (image variation, text-to-image from the
 * caption, or image + caption). Image-conditioned sources take their noise level from a composed noise
 * plugin (GenView's adaptive rule by default); text-conditioned ones take their guidance from the
 * caption's visual complexity, since a richly described caption constrains the image by itself and
 * needs less guidance; the image-only source keeps a fixed guidance.
 */
export class MultiSourceConditioning implements Conditioning {
  readonly name = NAME;
  readonly options: z.output<typeof multiSourceSchema>;
  private readonly total: number;

  constructor(
    options: MultiSourceOptions,
    private readonly deps: MultiSourceDependencies,
    private readonly where = NAME,
  ) {
    this.options = multiSourceSchema.parse(options);
    const p = this.options.proportions;
    checkProportions(p, where);
    this.total = p.image + p.text + p['image+text'];
    if (usesImage(p) && !deps.noise) {
      throw new GenviewError('INVALID_CONFIG', 'image-conditioned sources have a share but no noise conditioning was given.', {
        where: `${where}.noise`,
        fix: 'pass a noise conditioning (e.g. genview-adaptive-noise), or set proportions.image and proportions["image+text"] to 0.',
      });
    }
    if (usesText(p) && !deps.complexity) {
      throw new GenviewError('INVALID_CONFIG', 'text-conditioned sources have a share but no caption complexity scorer was given.', {
        where: `${where}.complexity`,
        fix: 'pass a complexity scorer (e.g. rule-based), or set proportions.text and proportions["image+text"] to 0.',
      });
    }
  }

  /** The source of sample `index`: independent of batch composition and of every other sample. */
  sourceOf(rng: Rng, index: number): Source {
    const p = this.options.proportions;
    let u = rng.fork(`source:${index}`).float() * this.total;
    for (const source of GENERATION_SOURCES) {
      if (u < p[source]) return source;
      u -= p[source];
    }
    // Rounding can leave u a hair above the last share; the last source with a share takes it.
    return [...GENERATION_SOURCES].reverse().find((s) => p[s] > 0) as Source;
  }

  /**
   * The sources of all `count` views of sample `index`, in view order: each source gets the floor of its
   * share of the views, the slots left go to distinct sources drawn by their fractional shares, and the
   * list is shuffled per image. Equal
   * shares and three views give every image one view of each source, as GenView++ pairs a caption with
   * one image per source.
   */
  sourcePlan(index: number, count: number): Source[] {
    const rng = this.deps.planRng;
    if (!rng) {
      throw new GenviewError('INVALID_CONFIG', 'stratified sources need the plugin’s own random stream.', {
        where: `${this.where}.stratify`,
        fix: 'create the plugin through the registry (it passes one), pass deps.planRng, or set stratify: false.',
      });
    }
    const p = this.options.proportions;
    const plan: Source[] = [];
    const remainders: { source: Source; weight: number }[] = [];
    for (const source of GENERATION_SOURCES) {
      const exact = (count * p[source]) / this.total;
      for (let i = 0; i < Math.floor(exact); i++) plan.push(source);
      if (exact > Math.floor(exact)) remainders.push({ source, weight: exact - Math.floor(exact) });
    }
    // The slots left over go to distinct sources, drawn by their fractional shares.
    const own = rng.fork(`sources:${index}`);
    while (plan.length < count && remainders.length > 0) {
      let u = own.float() * remainders.reduce((sum, r) => sum + r.weight, 0);
      let at = 0;
      while (at < remainders.length - 1 && u >= (remainders[at] as { weight: number }).weight) {
        u -= (remainders[at] as { weight: number }).weight;
        at++;
      }
      plan.push((remainders.splice(at, 1)[0] as { source: Source }).source);
    }
    return own.shuffleInPlace(plan);
  }

  async decide(input: ConditioningInput, rng: Rng): Promise<GenerationParams[]> {
    const view = input.view;
    if (view !== undefined && !(Number.isInteger(view.count) && view.count >= 1 && Number.isInteger(view.index) && view.index >= 0 && view.index < view.count)) {
      throw new GenviewError('BAD_INPUT', `view ${JSON.stringify(view)} is not one of an image's views.`, {
        where: `${this.where}.view`,
        fix: 'pass view: { index, count } with 0 <= index < count.',
      });
    }
    const stratified = this.options.stratify && view !== undefined && view.count > 1;
    const sources = Array.from(input.indices, (index) => (stratified ? (this.sourcePlan(index, view.count)[view.index] as Source) : this.sourceOf(rng, index)));
    const textRows = sources.flatMap((s, i) => (s === 'image' ? [] : [i]));
    const captions = usesText(this.options.proportions) ? this.requireCaptions(input, textRows) : [];
    const levels = sources.some((s) => s !== 'text') ? await this.noiseLevels(input, rng) : [];
    const scores = textRows.length > 0 ? await this.scores(textRows.map((i) => captions[i] as string)) : [];
    const guidanceOf = new Map(textRows.map((row, j) => [row, this.options.guidance[(scores[j] as number) - 1] as number]));
    return sources.map((source, i) => {
      // core's per-index seed, as genview-adaptive-noise uses: a view depends on the run's stream and its index only.
      const seed = viewSeed(rng, input.indices[i] as number);
      const steps = this.options.steps;
      if (source === 'image') return { source, noiseLevel: levels[i], guidanceScale: this.options.imageGuidance, seed, steps };
      const text = { guidanceScale: guidanceOf.get(i) as number, prompt: captions[i] as string, seed, steps };
      return source === 'text' ? { source, ...text } : { source, noiseLevel: levels[i], ...text };
    });
  }

  private requireCaptions(input: ConditioningInput, textRows: readonly number[]): readonly string[] {
    const captions = input.captions;
    if (captions === undefined) {
      throw new GenviewError('BAD_INPUT', 'text-conditioned sources have a share but the data has no captions.', {
        where: `${this.where}.proportions`,
        fix: "use a captioned dataset (captioned-shapes, or fashion-mnist with captions: true), or set proportions.text and proportions['image+text'] to 0.",
      });
    }
    if (captions.length !== input.indices.length) {
      throw new GenviewError('BAD_SHAPE', `got ${captions.length} captions for ${input.indices.length} images.`, { where: `${this.where}.captions`, fix: 'pass one caption per index.' });
    }
    for (const row of textRows) {
      if (!(captions[row] ?? '').trim()) {
        throw new GenviewError('BAD_INPUT', `image ${input.indices[row]} drew a text-conditioned source but its caption is empty.`, {
          where: `${this.where}.captions`,
          fix: 'give every image a caption, or set proportions.text and proportions["image+text"] to 0.',
        });
      }
    }
    return captions;
  }

  /** Levels for the whole batch, so an image's level never depends on which neighbours drew an image source. */
  private async noiseLevels(input: ConditioningInput, rng: Rng): Promise<(number | undefined)[]> {
    const decided = await (this.deps.noise as Conditioning).decide(input, rng);
    if (decided.length !== input.indices.length) {
      throw new GenviewError('INTERNAL', `the noise conditioning returned ${decided.length} decisions for ${input.indices.length} images.`, {
        where: `${this.where}.noise`,
        fix: 'a conditioning plugin must return one GenerationParams per index, in order.',
      });
    }
    return decided.map((d) => d.noiseLevel);
  }

  private async scores(captions: string[]): Promise<number[]> {
    const scores = await (this.deps.complexity as CaptionComplexityScorer).score(captions);
    if (scores.length !== captions.length) {
      throw new GenviewError('INTERNAL', `the complexity scorer returned ${scores.length} scores for ${captions.length} captions.`, {
        where: `${this.where}.complexity`,
        fix: 'a complexity scorer must return one score per caption, in order.',
      });
    }
    for (const score of scores) checkComplexity(score, `${this.where}.complexity`);
    return scores;
  }
}

function refName(ref: string | { name: string }): string {
  return typeof ref === 'string' ? ref : ref.name;
}

async function createDependencies(config: z.output<typeof multiSourceSchema>, context: PluginContext): Promise<MultiSourceDependencies> {
  const nested = { rng: context.rng, events: context.events, services: context.services };
  const deps: MultiSourceDependencies = { planRng: context.rng.fork(`${NAME}:sources`) };
  if (usesImage(config.proportions)) {
    if (refName(config.noise).split(':').pop() === NAME) {
      throw new GenviewError('INVALID_CONFIG', `the noise conditioning cannot be ${NAME} itself.`, {
        where: `${context.path}.noise`,
        fix: "name a plugin that picks noise levels, e.g. { name: 'genview-adaptive-noise', strategy: 'fixed', level: 100 }.",
      });
    }
    deps.noise = await context.registry.create('conditioning', config.noise, { ...nested, path: `${context.path}.noise` });
  }
  if (usesText(config.proportions)) {
    deps.complexity = await context.registry.create('complexity', config.complexity, { ...nested, path: `${context.path}.complexity` });
  }
  return deps;
}

export const multiSourcePlugin = definePlugin({
  kind: 'conditioning',
  name: NAME,
  package: '@genview/views',
  description: "GenView++'s per-sample source (image / text / image+text), noise level from a composed noise plugin and guidance from caption complexity.",
  configSchema: multiSourceSchema,
  create: async (config, context) => {
    checkProportions(config.proportions, context.path);
    return new MultiSourceConditioning(config, await createDependencies(config, context), context.path);
  },
});
