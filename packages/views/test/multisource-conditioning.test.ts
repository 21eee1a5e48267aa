import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Conditioning,
  type ConditioningInput,
  EventBus,
  type GenerationParams,
  Registry,
  Rng,
  type Tensor4D,
  definePlugin,
  isGenviewError,
  tf,
  viewSeed,
  z,
} from '@genview/core';
import { afterAll, describe, expect, it } from 'vitest';
import { ViewStore, type ViewToStore, plugins } from '../src/index';

const root = mkdtempSync(join(tmpdir(), 'genview-multisource-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Every decide() call a stub noise plugin received. */
const calls: { indices: number[]; hadImages: boolean; config: unknown }[] = [];

/** Stands in for @genview/quality's plugin of the same name: a fixed level, or 100 + index when adaptive. */
const stubAdaptiveNoise = definePlugin({
  kind: 'conditioning',
  name: 'genview-adaptive-noise',
  package: 'test-stubs',
  description: 'stub',
  configSchema: z.object({ strategy: z.enum(['adaptive', 'fixed']).default('adaptive'), level: z.number().int().default(0) }).strict(),
  create: (config): Conditioning => ({
    name: 'genview-adaptive-noise',
    async decide(input: ConditioningInput, rng: Rng): Promise<GenerationParams[]> {
      calls.push({ indices: Array.from(input.indices), hadImages: input.images !== undefined, config });
      return Array.from(input.indices, (index) => ({
        source: 'image' as const,
        noiseLevel: config.strategy === 'fixed' ? config.level : 100 + index,
        seed: rng.fork(`view:${index}`).int(0x7fffffff),
      }));
    },
  }),
});

const registry = new Registry().register(plugins).register(stubAdaptiveNoise);
const context = () => ({ rng: new Rng(0), events: new EventBus(), path: 'generate.conditioning' });
const create = (options: Record<string, unknown> = {}) => registry.create('conditioning', { name: 'genview++-multisource', ...options }, context());

const indices = (n: number, from = 0) => Int32Array.from({ length: n }, (_, i) => from + i);

/** Captions of known rule-based complexity 1..4, cycled over the indices. */
const BY_COMPLEXITY = [
  'a circle',
  'a red circle',
  'a small red circle left of a large blue square',
  'a small dotted red circle above a large striped blue square',
];
const captionsFor = (ids: Int32Array) => Array.from(ids, (i) => BY_COMPLEXITY[i % 4] as string);

async function rejection(promise: Promise<unknown>): Promise<{ code: string; where: string; fix: string; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isGenviewError(error), String(error)).toBe(true);
  return error as { code: string; where: string; fix: string; message: string };
}

describe('genview++-multisource conditioning', () => {
  it('draws sources in the configured proportions, per index, the same every time', async () => {
    const ids = indices(3000);
    const input = { indices: ids, captions: captionsFor(ids) };
    const even = await create();
    const share = (params: GenerationParams[], source: string) => params.filter((p) => p.source === source).length / params.length;
    const params = await even.decide(input, new Rng(7));
    // 1/3 each; the standard deviation of a share over 3000 draws is about 0.009.
    for (const source of ['image', 'text', 'image+text']) expect(Math.abs(share(params, source) - 1 / 3)).toBeLessThan(0.03);
    expect(await even.decide(input, new Rng(7))).toEqual(params);
    expect(await even.decide(input, new Rng(8))).not.toEqual(params);

    const skewed = await create({ proportions: { image: 2, text: 1, 'image+text': 1 } });
    const p2 = await skewed.decide(input, new Rng(7));
    expect(Math.abs(share(p2, 'image') - 0.5)).toBeLessThan(0.03);
    expect(Math.abs(share(p2, 'text') - 0.25)).toBeLessThan(0.03);
    expect(Math.abs(share(p2, 'image+text') - 0.25)).toBeLessThan(0.03);
    const textOnly = await create({ proportions: { image: 0, text: 1, 'image+text': 0 } });
    expect((await textOnly.decide(input, new Rng(7))).every((p) => p.source === 'text')).toBe(true);

    // A sample's decision depends on its index, not on the batch it arrives in.
    const a = await even.decide({ indices: indices(10), captions: captionsFor(indices(10)) }, new Rng(3));
    const b = await even.decide({ indices: indices(10, 5), captions: captionsFor(indices(10, 5)) }, new Rng(3));
    expect(b.slice(0, 5)).toEqual(a.slice(5));
  });

  it("stratifies several views per image: each image's views share the sources in proportion, whatever rng each view gets", async () => {
    const ids = indices(200);
    const input = { indices: ids, captions: captionsFor(ids) };
    const sourcesOf = async (conditioning: Awaited<ReturnType<typeof create>>, count: number) => {
      const perView: string[][] = [];
      // The host decides each view with its own fork, as `genview generate` does.
      for (let k = 0; k < count; k++) perView.push((await conditioning.decide({ ...input, view: { index: k, count } }, new Rng(100 + k))).map((p) => p.source));
      return Array.from(ids, (_, i) => perView.map((views) => views[i] as string));
    };
    const even = await sourcesOf(await create(), 3);
    for (const image of even) expect([...image].sort()).toEqual(['image', 'image+text', 'text']);
    // Which view gets which source is shuffled per image, not fixed by k.
    expect(new Set(even.map((image) => image[0])).size).toBe(3);
    const skewed = await sourcesOf(await create({ proportions: { image: 2, text: 1, 'image+text': 1 } }), 4);
    for (const image of skewed) expect([...image].sort()).toEqual(['image', 'image', 'image+text', 'text']);
    // A count the shares do not divide: the floors, then the remainder drawn by proportion.
    const two = await sourcesOf(await create(), 2);
    for (const image of two) expect(new Set(image).size).toBe(2);
    // Off, or one view per image: each view draws alone, as without a view.
    const plain = await (await create()).decide(input, new Rng(7));
    expect((await (await create()).decide({ ...input, view: { index: 0, count: 1 } }, new Rng(7))).map((p) => p.source)).toEqual(plain.map((p) => p.source));
    const off = await create({ stratify: false });
    expect((await off.decide({ ...input, view: { index: 1, count: 3 } }, new Rng(7))).map((p) => p.source)).toEqual(plain.map((p) => p.source));
    const bad = await rejection((await create()).decide({ ...input, view: { index: 3, count: 3 } }, new Rng(0)));
    expect(bad.message).toMatch(/not one of an image's views/);
  });

  it('sets text-conditioned guidance from caption complexity (1/2/3/4 → 8/6/4/2), prompt = caption', async () => {
    const ids = indices(40);
    const captions = captionsFor(ids);
    const params = await (await create()).decide({ indices: ids, captions }, new Rng(1));
    const seen = new Set<string>();
    params.forEach((p, i) => {
      seen.add(p.source);
      expect(p.steps).toBe(20);
      if (p.source === 'image') return;
      expect(p.prompt).toBe(captions[i]);
      expect(p.guidanceScale).toBe([8, 6, 4, 2][i % 4]);
    });
    expect(seen.size).toBe(3);
    const custom = await create({ proportions: { image: 0, text: 1, 'image+text': 0 }, guidance: [9, 7, 5, 3], steps: 30 });
    const p2 = await custom.decide({ indices: ids, captions }, new Rng(1));
    expect(p2.map((p) => p.guidanceScale)).toEqual(Array.from(ids, (i) => [9, 7, 5, 3][i % 4]));
    expect(p2.every((p) => p.steps === 30 && p.noiseLevel === undefined)).toBe(true);
  });

  it('gives the image-only source a fixed guidance and no prompt, and needs no captions', async () => {
    const ids = indices(12);
    const imageOnly = await create({ proportions: { image: 1, text: 0, 'image+text': 0 } });
    const withCaptions = await imageOnly.decide({ indices: ids, captions: captionsFor(ids) }, new Rng(2));
    const without = await imageOnly.decide({ indices: ids }, new Rng(2));
    expect(without).toEqual(withCaptions);
    for (const p of without) {
      expect(p).toMatchObject({ source: 'image', guidanceScale: 10, steps: 20 });
      expect(p.prompt).toBeUndefined();
    }
    const custom = await create({ proportions: { image: 1, text: 0, 'image+text': 0 }, imageGuidance: 7.5 });
    expect((await custom.decide({ indices: ids }, new Rng(2))).every((p) => p.guidanceScale === 7.5)).toBe(true);
  });

  it('takes noise levels from the noise plugin it names, for image-conditioned sources only', async () => {
    const ids = indices(60);
    const images = tf.zeros([60, 4, 4, 3]) as Tensor4D;
    calls.length = 0;
    const params = await (await create()).decide({ indices: ids, images, captions: captionsFor(ids) }, new Rng(4));
    images.dispose();
    // One call for the whole batch, with the images (an adaptive rule measures them).
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ indices: Array.from(ids), hadImages: true, config: { strategy: 'adaptive' } });
    params.forEach((p, i) => {
      expect(p.noiseLevel).toBe(p.source === 'text' ? undefined : 100 + i);
    });

    calls.length = 0;
    const fixed = await create({ noise: { name: 'genview-adaptive-noise', strategy: 'fixed', level: 100 } });
    const p2 = await fixed.decide({ indices: ids, captions: captionsFor(ids) }, new Rng(4));
    expect(calls[0]?.config).toEqual({ strategy: 'fixed', level: 100 });
    expect(p2.filter((p) => p.source !== 'text').every((p) => p.noiseLevel === 100)).toBe(true);

    // No image-conditioned share: the noise plugin is never built or asked.
    calls.length = 0;
    const textOnly = await create({ proportions: { image: 0, text: 1, 'image+text': 0 }, noise: 'no-such-plugin' });
    await textOnly.decide({ indices: ids, captions: captionsFor(ids) }, new Rng(4));
    expect(calls).toHaveLength(0);
    const unknown = await rejection(create({ noise: 'no-such-plugin' }));
    expect(unknown.code).toBe('UNKNOWN_PLUGIN');
    expect(unknown.where).toBe('generate.conditioning.noise');
  });

  it("gives every view the seed genview-adaptive-noise would, whatever its source", async () => {
    const ids = indices(30, 100);
    const rng = new Rng(11);
    const a = await (await create()).decide({ indices: ids, captions: captionsFor(ids) }, rng);
    const b = await (await create({ proportions: { image: 0, text: 1, 'image+text': 0 } })).decide({ indices: ids, captions: captionsFor(ids) }, rng);
    a.forEach((p, i) => {
      expect(p.seed).toBe(new Rng(11).fork(`view:${ids[i]}`).int(0x7fffffff));
      expect(p.seed).toBe(viewSeed(rng, ids[i] as number));
      expect(b[i]?.seed).toBe(p.seed);
    });
  });

  it('refuses text sources without captions, and proportions without a positive sum, naming field and fix', async () => {
    const noCaptions = await rejection((await create()).decide({ indices: indices(3) }, new Rng(0)));
    expect(noCaptions.code).toBe('BAD_INPUT');
    expect(noCaptions.where).toBe('generate.conditioning.proportions');
    expect(noCaptions.fix).toMatch(/captioned dataset.*proportions\.text/);
    const empty = await rejection((await create({ proportions: { image: 0, text: 1, 'image+text': 0 } })).decide({ indices: indices(2), captions: ['a cat', ' '] }, new Rng(0)));
    expect(empty.message).toMatch(/image 1 .*caption is empty/);

    const zero = await rejection(create({ proportions: { image: 0, text: 0, 'image+text': 0 } }));
    expect(zero.code).toBe('INVALID_CONFIG');
    expect(zero.where).toBe('generate.conditioning.proportions');
    expect(zero.fix).toMatch(/at least one source a share/);
    const negative = await rejection(create({ proportions: { image: -1, text: 1, 'image+text': 0 } }));
    expect(negative.message).toMatch(/proportions\.image/);
    const itself = await rejection(create({ noise: 'genview++-multisource' }));
    expect(itself.where).toBe('generate.conditioning.noise');
  });

  it('round-trips the chosen parameters (source, noise level, guidance, prompt) through a view store', async () => {
    const ids = indices(6);
    const params = await (await create()).decide({ indices: ids, captions: captionsFor(ids) }, new Rng(5));
    expect(new Set(params.map((p) => p.source)).size).toBeGreaterThan(1);
    const store = await ViewStore.create(join(root, 'store'), {
      dataset: 'captioned',
      count: 6,
      viewsPerImage: 1,
      shardSize: 3,
      imageShape: [2, 2, 3],
      generator: { name: 'stub', configHash: 'x' },
    });
    const views: ViewToStore[] = params.map((p, i) => ({ index: i, k: 0, pixels: new Uint8Array(12).fill(i), params: p }));
    await store.writeShard(0, views.slice(0, 3));
    await store.writeShard(1, views.slice(3));
    const reopened = await ViewStore.open(join(root, 'store'));
    for (let i = 0; i < 6; i++) {
      const stored = await reopened.readView(i, 0);
      expect(stored.params).toEqual(params[i]);
      const p = params[i] as GenerationParams;
      expect(stored.params.source).toBe(p.source);
      expect(stored.params.guidanceScale).toBe(p.guidanceScale);
      expect(stored.params.noiseLevel).toBe(p.noiseLevel);
      expect(stored.params.prompt).toBe(p.prompt);
    }
  });
});
