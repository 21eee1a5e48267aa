import {
  type Backbone,
  EventBus,
  type FeatureExtractor,
  GenviewError,
  type Head,
  Registry,
  Rng,
  buildBackbone,
  buildHead,
  definePlugin,
  emaUpdate,
  isGenviewError,
  pluginRefSchema,
  requireVisionLanguageEncoder,
  tf,
  viewSeed,
  z,
} from '@genview/core';
import { describe, expect, it } from 'vitest';

let made = 0;

/** A linear "backbone" on flattened pixels that records the options the registry gave it. */
const flatBackbone = definePlugin({
  kind: 'backbone',
  name: 'flat',
  package: 'test',
  description: 'test backbone',
  configSchema: z.object({ inChannels: z.number().int().default(1), imageSize: z.number().int().default(2), width: z.number().int().default(3) }).strict(),
  create: (config): Backbone & { config: typeof config } => {
    const w = tf.variable(tf.ones([config.imageSize * config.imageSize * config.inChannels, config.width]), true, `flat_${made++}`);
    return {
      name: 'flat',
      config,
      featureDim: config.width,
      variables: () => [{ name: 'w', variable: w, trainable: true, decay: true }],
      apply: (x) => tf.tidy(() => tf.matMul(tf.reshape(x, [x.shape[0], -1]), w)),
      dispose: () => w.dispose(),
    };
  },
});

const identityHead = definePlugin({
  kind: 'head',
  name: 'same',
  package: 'test',
  description: 'test head',
  configSchema: z.object({ inDim: z.number().int() }).strict(),
  create: (config): Head => ({ name: 'same', inDim: config.inDim, outDim: config.inDim, variables: () => [], apply: (x) => tf.clone(x), dispose: () => {} }),
});

function context() {
  return { rng: new Rng(1), events: new EventBus(), registry: new Registry().register([flatBackbone, identityHead]), path: 'framework' };
}

describe('plugin parts for plugin authors', () => {
  it('pluginRefSchema takes "name", "package:name" and { name, ...options } and refuses a nameless object', () => {
    expect(pluginRefSchema.parse('flat')).toBe('flat');
    expect(pluginRefSchema.parse('test:flat')).toBe('test:flat');
    expect(pluginRefSchema.parse({ name: 'flat', width: 4 })).toEqual({ name: 'flat', width: 4 });
    expect(pluginRefSchema.safeParse({ width: 4 }).success).toBe(false);
    expect(pluginRefSchema.safeParse('').success).toBe(false);
  });

  it('buildBackbone fills inChannels and imageSize from the data unless set; buildHead sets inDim', async () => {
    const ctx = context();
    const fromData = (await buildBackbone(ctx, 'flat', [4, 4, 3])) as Backbone & { config: Record<string, number> };
    expect(fromData.config).toEqual({ inChannels: 3, imageSize: 4, width: 3 });
    const given = (await buildBackbone(ctx, { name: 'flat', inChannels: 1, width: 5 }, [4, 4, 3])) as Backbone & { config: Record<string, number> };
    expect(given.config).toEqual({ inChannels: 1, imageSize: 4, width: 5 });
    const head = await buildHead(ctx, 'same', fromData.featureDim, 'framework.projector');
    expect([head.inDim, head.outDim]).toEqual([3, 3]);
    const error = await buildHead(ctx, { name: 'same', inDim: 7 }, 3, 'framework.projector').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GenviewError);
    expect((error as GenviewError).where).toBe('framework.projector.inDim');
    for (const m of [fromData, given, head]) m.dispose();
  });

  it('emaUpdate moves the target τ of the way to itself and the rest towards the online module', async () => {
    const ctx = context();
    const online = await buildBackbone(ctx, 'flat', [1, 1, 1]);
    const target = await buildBackbone(ctx, 'flat', [1, 1, 1]);
    online.variables()[0].variable.assign(tf.fill([1, 3], 3));
    emaUpdate(online, target, 0.75);
    expect(Array.from(await target.variables()[0].variable.data())).toEqual([1.5, 1.5, 1.5]);
    online.dispose();
    target.dispose();
  });

  it('an image-only encoder is refused with the NO_JOINT_SPACE code', () => {
    const imageOnly: FeatureExtractor = { featureDim: 2, embed: (x) => tf.zeros([x.shape[0], 2]) };
    let caught: unknown;
    try {
      requireVisionLanguageEncoder(imageOnly, 'zero-shot');
    } catch (error) {
      caught = error;
    }
    expect(isGenviewError(caught, 'NO_JOINT_SPACE')).toBe(true);
    expect((caught as GenviewError).message).toMatch(/no joint image-text space/);
  });

  it('viewSeed gives the seeds stored views were made with (pinned before it moved to core)', () => {
    const rng = new Rng(0).fork('generate');
    expect([0, 1, 2, 41, 59999].map((i) => viewSeed(rng, i))).toEqual([1644823876, 2092812299, 1397723190, 2132186882, 190897627]);
    expect([0, 1, 100].map((i) => viewSeed(new Rng(3), i))).toEqual([784809458, 543325632, 1843492472]);
  });
});
