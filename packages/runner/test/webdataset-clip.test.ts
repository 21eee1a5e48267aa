import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, type TarEntry, writeTar } from '@genview/core';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, metricOf } from './vision-language-run';

const root = mkdtempSync(join(tmpdir(), 'genview-webdataset-clip-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const COLORS: Record<string, [number, number, number]> = { red: [220, 30, 30], green: [30, 200, 40], blue: [40, 50, 220] };

/** Noisy 16x16 photos of one colour each as WebDataset shards: {key}.png + {key}.json {caption, label}. */
async function writeShards(split: string, perColor: number, shards: number, seed: number): Promise<string> {
  const rng = new Rng(seed);
  const samples: TarEntry[][] = [];
  for (const [name, rgb] of Object.entries(COLORS)) {
    for (let i = 0; i < perColor; i++) {
      const pixels = Buffer.alloc(16 * 16 * 3);
      for (let p = 0; p < pixels.length; p++) pixels[p] = Math.max(0, Math.min(255, rgb[p % 3] + Math.round((rng.float() - 0.5) * 80)));
      const key = `${name}-${String(i).padStart(3, '0')}`;
      const png = new Uint8Array(await sharp(pixels, { raw: { width: 16, height: 16, channels: 3 } }).png().toBuffer());
      const json = new TextEncoder().encode(JSON.stringify({ caption: `a photo of something ${name}, number ${i}`, label: name }));
      samples.push([
        { name: `${key}.png`, data: png },
        { name: `${key}.json`, data: json },
      ]);
    }
  }
  // Round-robin over shards, so every shard holds every colour.
  for (let s = 0; s < shards; s++) writeFileSync(join(root, `${split}-${s}.tar`), writeTar(samples.filter((_, i) => i % shards === s).flat()));
  return join(root, `${split}-{0..${shards - 1}}.tar`);
}

describe('webdataset shards feed CLIP', () => {
  it('`genview train` of clip on captioned tar shards learns the captions: zero-shot beats chance', async () => {
    const train = await writeShards('train', 32, 3, 1);
    const test = await writeShards('test', 10, 2, 2);
    const outDir = join(root, 'run');
    const data = { size: 16, cacheSize: 16 };
    const config = {
      seed: 0,
      outDir,
      data: { train: { name: 'webdataset', shards: train, ...data }, test: { name: 'webdataset', shards: test, ...data } },
      views: { pipelines: [[{ name: 'horizontal-flip' }], [{ name: 'horizontal-flip' }]] },
      tokenizer: { merges: 50, contextLength: 8 },
      framework: {
        name: 'clip',
        backbone: { name: 'small-cnn', widths: [8, 16] },
        text: { name: 'text-transformer', width: 32, layers: 1, heads: 2 },
        jointDim: 32,
      },
      optimizer: { name: 'adamw', weightDecay: 0.05 },
      trainer: { steps: 40, batchSize: 24, lr: 3e-3, scaleLr: false, checkpointEvery: 40, logEvery: 10, tensorboard: false },
      eval: { evaluators: [{ name: 'zero-shot', templates: ['a photo of something {}'] }], baselines: false },
    };
    const file = join(root, 'run.json');
    writeFileSync(file, JSON.stringify(config));
    await cli(['train', '--config', file]);
    const zeroShot = metricOf(outDir, 0, 'zero-shot', 'zeroshot_top1');
    expect(zeroShot, 'zero-shot top-1 of 3 colours').toBeGreaterThan(1 / 3 + 0.3);
  });
});
