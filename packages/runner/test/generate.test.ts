import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventBus } from '@genview/core';
import { ViewStore } from '@genview/views';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConfigSchema } from '../src/config/schema';
import { generateFromConfig } from '../src/run/generate';

// The tiny random-weight pipeline of @genview/views' tests: our real model's layout, made by tools/diffusion.
const PIPELINE = fileURLToPath(new URL('../../views/test/fixtures/tiny-random-unclip', import.meta.url));

function config(store: string, extra: Record<string, unknown> = {}) {
  return runConfigSchema.parse({
    seed: 3,
    outDir: store,
    generate: {
      generator: { name: 'onnx-diffusion', path: PIPELINE, steps: 2, threads: 1 },
      conditioning: { name: 'genview-adaptive-noise', strategy: 'random', levels: [0, 300] },
      store,
      viewsPerImage: 2,
      shardSize: 8,
      batchSize: 6,
      limit: 20,
      ...extra,
    },
  });
}

async function allViews(dir: string) {
  const store = await ViewStore.open(dir);
  const out: { index: number; k: number; pixels: number[]; noiseLevel?: number; seed: number }[] = [];
  for (let index = 0; index < 20; index++) {
    for (let k = 0; k < 2; k++) {
      const v = await store.readView(index, k);
      out.push({ index, k, pixels: Array.from(v.pixels), noiseLevel: v.params.noiseLevel, seed: v.params.seed });
    }
  }
  return out;
}

describe('genview generate', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'genview-generate-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('resumes an interrupted run into exactly the store an uninterrupted run writes', async () => {
    const whole = join(root, 'whole');
    const events = new EventBus();
    const progress: number[] = [];
    events.on('progress', ({ done }) => progress.push(done));
    const full = await generateFromConfig(config(whole), { events });
    expect(full).toMatchObject({ shardsWritten: 3, shardsTotal: 3, viewsWritten: 40 });
    expect(progress).toEqual([16, 32, 40]);

    const resumed = join(root, 'resumed');
    const first = await generateFromConfig(config(resumed), { maxShards: 1 });
    expect(first).toMatchObject({ shardsWritten: 1, viewsWritten: 16 });
    const second = await generateFromConfig(config(resumed));
    expect(second).toMatchObject({ shardsWritten: 2, viewsWritten: 24 });
    const third = await generateFromConfig(config(resumed));
    expect(third.shardsWritten).toBe(0);

    const a = await allViews(whole);
    const b = await allViews(resumed);
    expect(b).toEqual(a);
    expect(new Set(a.map((v) => v.noiseLevel))).toEqual(new Set([0, 300]));
    // The two views of an image differ (their seeds do).
    expect(a[0]?.pixels).not.toEqual(a[1]?.pixels);
    expect(await readdir(join(resumed, 'shards'))).toHaveLength(3);
    // The store says how it was made, readable without the config.
    const meta = (await ViewStore.open(whole)).meta;
    expect(meta.user).toEqual({
      generate: {
        generator: { name: 'onnx-diffusion', path: PIPELINE, steps: 2, threads: 1 },
        conditioning: { name: 'genview-adaptive-noise', strategy: 'random', levels: [0, 300] },
        seed: 3,
      },
    });
  });

  it('refuses to resume a store made with other settings, naming the field', async () => {
    const dir = join(root, 'mismatch');
    await generateFromConfig(config(dir), { maxShards: 1 });
    await expect(generateFromConfig(config(dir, { viewsPerImage: 3 }))).rejects.toThrow(/viewsPerImage/);
    const fresh = await generateFromConfig(config(dir, { viewsPerImage: 3 }), { overwrite: true, maxShards: 1 });
    expect(fresh.viewsWritten).toBe(24);
  });
});
