import { EventBus, type PatchTokenEncoder, Registry, Rng, type Tensor3D, type Tensor4D, tf } from '@genview/core';
import { describe, expect, it } from 'vitest';
import { AdaptiveNoiseConditioning, createGenviewFgBgScorer, fitForegroundDirection, patchTokensOf, plugins } from '../src/index';
import { D, add, basis, gridExtractor, images, tokenMap } from './synthetic';

const H = 5;
const W = 5;

/** The grid extractor behind a promise, as an encoder running outside TensorFlow.js (ONNX) answers. */
const asyncGrid: PatchTokenEncoder = {
  patchTokens: async (x: Tensor4D): Promise<Tensor3D> => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return gridExtractor.patchTokens?.(x) as Tensor3D;
  },
};

function pairs(n: number, seed: number): [Tensor4D, Tensor4D] {
  const rng = new Rng(seed);
  const maps = (shift: number) => Array.from({ length: n }, (_, i) => tokenMap(H, W, 6 + ((i + shift) % 12), add(basis(0, 2), basis(2 + (i % 3), 0.5)), basis(1), 0.1, rng));
  return [images(maps(0), H, W), images(maps(5), H, W)];
}

describe('GenView foreground steps with an asynchronous patch-token encoder', () => {
  it('genview-fg-bg gives the same weights as with the synchronous encoder, and leaks nothing', async () => {
    const [a, b] = pairs(8, 1);
    const direction = { vector: basis(0), threshold: 1 };
    const sync = createGenviewFgBgScorer({ extractor: gridExtractor, direction, gamma: 3 });
    const async_ = createGenviewFgBgScorer({ extractor: asyncGrid, direction, gamma: 3 });
    const before = tf.memory().numTensors;
    const ws = await sync.pairWeights({ views: [a, b] });
    const wa = await async_.pairWeights({ views: [a, b] });
    expect(Array.from(wa.dataSync())).toEqual(Array.from(ws.dataSync()));
    expect(Math.max(...ws.dataSync()) - Math.min(...ws.dataSync())).toBeGreaterThan(0.05);
    tf.dispose([ws, wa]);
    expect(tf.memory().numTensors).toBe(before);
    sync.dispose();
    async_.dispose();
    tf.dispose([a, b]);
  });

  it('diversity 0 scores foreground agreement alone; 1 is the default GenView score', async () => {
    const [a, b] = pairs(8, 4);
    const direction = { vector: basis(0), threshold: 1 };
    const genview = createGenviewFgBgScorer({ extractor: gridExtractor, direction, gamma: 2 });
    const fgOnly = createGenviewFgBgScorer({ extractor: gridExtractor, direction, gamma: 2, diversity: 0 });
    expect(genview.diversity).toBe(1);
    const sims = await genview.similarities({ views: [a, b] });
    const fg = Array.from(sims.foreground.dataSync());
    const expected = fg.map((f) => Math.exp(2 * (f - Math.max(...fg))));
    const total = expected.reduce((x, y) => x + y, 0);
    const w = await fgOnly.pairWeights({ views: [a, b] });
    for (const [i, x] of Array.from(w.dataSync()).entries()) expect(x).toBeCloseTo((8 * expected[i]) / total, 5);
    const wDefault = await genview.pairWeights({ views: [a, b] });
    expect(Array.from(wDefault.dataSync())).not.toEqual(Array.from(w.dataSync()));
    expect(() => createGenviewFgBgScorer({ extractor: gridExtractor, direction, diversity: -1 })).toThrow(/diversity must be/);
    tf.dispose([a, b, sims.foreground, sims.background, w, wDefault]);
    genview.dispose();
    fgOnly.dispose();
  });

  it('adaptive noise and patchTokensOf await it; the plugin asks the host for a patch-token encoder first', async () => {
    const [a] = pairs(5, 2);
    const direction = { vector: basis(0), threshold: 1 };
    const sync = await new AdaptiveNoiseConditioning({ strategy: 'adaptive' }, { extractor: gridExtractor, direction }).foregroundRatios({ indices: Int32Array.from([0, 1, 2, 3, 4]), images: a });
    const viaAsync = await new AdaptiveNoiseConditioning({ strategy: 'adaptive' }, { extractor: asyncGrid, direction }).foregroundRatios({ indices: Int32Array.from([0, 1, 2, 3, 4]), images: a });
    expect(Array.from(viaAsync)).toEqual(Array.from(sync));
    const tokens = await patchTokensOf(asyncGrid, a);
    expect(tokens.shape).toEqual([5, H * W, D]);
    const fitted = await fitForegroundDirection(tokens, { grid: [H, W] });
    expect(fitted.vector.length).toBe(D);
    tokens.dispose();

    const asked: string[] = [];
    const services = {
      featureExtractor: () => {
        throw new Error('featureExtractor must not be asked when patchTokenEncoder is offered');
      },
      patchTokenEncoder: (name: string) => {
        asked.push(name);
        return asyncGrid;
      },
    };
    const registry = new Registry().register(plugins);
    const scorer = await registry.create('quality', { name: 'genview-fg-bg', direction: { vector: Array.from(basis(0)) }, encoder: 'onnx:x' }, { rng: new Rng(0), events: new EventBus(), services, path: 'quality' });
    expect(asked).toEqual(['onnx:x']);
    const [p, q] = pairs(4, 3);
    const w = await scorer.pairWeights({ views: [p, q] });
    expect(w.shape).toEqual([4]);
    const noTokens = { patchTokenEncoder: () => ({}) as PatchTokenEncoder };
    await expect(
      registry.create('quality', { name: 'genview-fg-bg', direction: { vector: Array.from(basis(0)) }, encoder: 'y' }, { rng: new Rng(0), events: new EventBus(), services: noTokens, path: 'quality' }),
    ).rejects.toThrow(/patchTokens.*quality\.encoder|quality\.encoder.*patchTokens/s);
    tf.dispose([a, p, q, w]);
  });
});
