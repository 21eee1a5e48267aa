import {
  type EventBus,
  type GeneratedView,
  type GenerationRequest,
  type Generator,
  GenviewError,
  type Tensor3D,
  definePlugin,
  tf,
  z,
} from '@genview/core';
import { parseOptions } from '../augment/common';
import { ViewStore } from './view-store';

const NAME = 'view-store';

export const viewStoreSchema = z
  .object({
    dir: z.string().min(1).describe('directory of a store written by `genview generate`'),
    mix: z
      .number()
      .min(0)
      .max(1)
      .default(1)
      .describe('fraction of requests answered with a stored view; the others get their own conditioning image back (chosen from the seed)'),
    cacheShards: z.number().int().positive().default(4).describe('parsed shards kept in memory'),
  })
  .strict();
export type ViewStoreGeneratorOptions = z.input<typeof viewStoreSchema>;

/**
 * A hash of the seed in [0, 1), for the mix decision: k is `seed mod K`, so using the raw seed again
 * would tie "stored or real" to which view is picked.
 */
function seedUniform(seed: number): number {
  let z32 = (Math.floor(seed) ^ 0x5bd1e995) >>> 0;
  z32 = Math.imul(z32 ^ (z32 >>> 16), 0x85ebca6b) >>> 0;
  z32 = Math.imul(z32 ^ (z32 >>> 13), 0xc2b2ae35) >>> 0;
  return ((z32 ^ (z32 >>> 16)) >>> 0) / 4294967296;
}

/**
 * Serves precomputed views instead of running a diffusion model during training: request i gets
 * view `seed mod K` of image `index`, so a given seed always yields the same view and different
 * seeds (epochs, pair members) spread over the K stored ones.
 */
export class ViewStoreGenerator implements Generator {
  readonly name = NAME;
  readonly store: ViewStore;
  readonly options: z.output<typeof viewStoreSchema>;
  private readonly where: string;

  private constructor(store: ViewStore, options: z.output<typeof viewStoreSchema>, where: string) {
    this.store = store;
    this.options = options;
    this.where = where;
  }

  static async open(options: ViewStoreGeneratorOptions, where = NAME, events?: EventBus): Promise<ViewStoreGenerator> {
    const parsed = parseOptions(viewStoreSchema, options, where);
    const store = await ViewStore.open(parsed.dir, { cacheShards: parsed.cacheShards, events });
    return new ViewStoreGenerator(store, parsed, where);
  }

  /** Which stored view a seed selects. */
  viewFor(seed: number): number {
    const K = this.store.meta.viewsPerImage;
    return ((Math.floor(seed) % K) + K) % K;
  }

  async generate(requests: GenerationRequest[]): Promise<GeneratedView[]> {
    const [h, w, c] = this.store.meta.imageShape;
    requests.forEach((request, i) => {
      if (request.index === undefined || !Number.isInteger(request.index)) {
        throw new GenviewError('BAD_INPUT', `request ${i} has no dataset index; the view store serves views by index.`, {
          where: this.where,
          fix: 'set GenerationRequest.index to the dataset index of the image the view is for.',
        });
      }
      if (!Number.isFinite(request.seed)) {
        throw new GenviewError('BAD_INPUT', `request ${i} has seed ${request.seed}; the seed picks the stored view.`, { where: this.where });
      }
      // Stored and real views end up in one batch; a size mismatch would otherwise fail much later inside tf.stack.
      const shape = request.image?.shape;
      if (shape && (shape[0] !== h || shape[1] !== w || shape[2] !== c)) {
        throw new GenviewError('BAD_SHAPE', `request ${i} has an image of shape [${shape.join(', ')}], the store holds [${h}, ${w}, ${c}].`, {
          where: this.where,
          fix: 'generate the store at the training image size, or resize images before requesting views.',
        });
      }
    });
    // Every read finishes before any tensor exists, so a failing request leaks no tensor of the others.
    const sources = await Promise.all(
      requests.map(async (request) => {
        const index = request.index as number;
        if (this.options.mix < 1 && seedUniform(request.seed) >= this.options.mix) {
          if (!request.image) {
            throw new GenviewError('BAD_INPUT', `request for image ${index} drew a real view (mix = ${this.options.mix}) but carries no image.`, {
              where: this.where,
              fix: 'pass the conditioning image with each request, or set mix to 1.',
            });
          }
          return { index, real: request.image, params: paramsOf(request) };
        }
        const view = await this.store.readView(index, this.viewFor(request.seed));
        return { index, view, params: view.params };
      }),
    );
    return sources.map((source): GeneratedView => {
      if (source.real) return { image: tf.clone(source.real), params: source.params, index: source.index };
      const view = source.view as NonNullable<typeof source.view>;
      const scaled = new Float32Array(view.pixels.length);
      for (let j = 0; j < scaled.length; j++) scaled[j] = view.pixels[j] / 255;
      const image: Tensor3D = tf.tensor3d(scaled, view.shape, 'float32');
      return { image, params: source.params, index: source.index };
    });
  }

  dispose(): void {
    this.store.clearCache();
  }
}

function paramsOf(request: GenerationRequest): GeneratedView['params'] {
  const { image: _image, index: _index, ...params } = request;
  return params;
}

export const viewStorePlugin = definePlugin({
  kind: 'generator',
  name: NAME,
  package: '@genview/views',
  description: 'Precomputed generated views from a store written by `genview generate`: view (seed mod K) of each request index, as [H, W, C] in [0, 1].',
  configSchema: viewStoreSchema,
  create: (config, context) => ViewStoreGenerator.open(config, context.path, context.events),
});
