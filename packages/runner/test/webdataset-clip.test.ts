import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TarEntry, writeTar } from '@genview/core';
import { afterAll, describe, expect, it } from 'vitest';
import { clipZeroShot, colourPhotos } from './colour-photos';

const root = mkdtempSync(join(tmpdir(), 'genview-webdataset-clip-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Colour photos as WebDataset shards: {key}.png + {key}.json {caption, label}. */
async function writeShards(split: string, perColor: number, shards: number, seed: number): Promise<string> {
  const samples: TarEntry[][] = (await colourPhotos(perColor, seed)).map(({ name, index, caption, png }) => {
    const key = `${name}-${String(index).padStart(3, '0')}`;
    const json = new TextEncoder().encode(JSON.stringify({ caption, label: name }));
    return [
      { name: `${key}.png`, data: png },
      { name: `${key}.json`, data: json },
    ];
  });
  // Round-robin over shards, so every shard holds every colour.
  for (let s = 0; s < shards; s++) writeFileSync(join(root, `${split}-${s}.tar`), writeTar(samples.filter((_, i) => i % shards === s).flat()));
  return join(root, `${split}-{0..${shards - 1}}.tar`);
}

describe('webdataset shards feed CLIP', () => {
  it('`genview train` of clip on captioned tar shards learns the captions: zero-shot beats chance', async () => {
    const train = await writeShards('train', 32, 3, 1);
    const test = await writeShards('test', 10, 2, 2);
    const data = { size: 16, cacheSize: 16 };
    const zeroShot = await clipZeroShot(root, { name: 'webdataset', shards: train, ...data }, { name: 'webdataset', shards: test, ...data });
    expect(zeroShot, 'zero-shot top-1 of 3 colours').toBeGreaterThan(1 / 3 + 0.3);
  });
});
