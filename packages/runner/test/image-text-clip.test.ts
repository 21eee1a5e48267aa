import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clipZeroShot, colourPhotos } from './colour-photos';

const root = mkdtempSync(join(tmpdir(), 'genview-image-text-clip-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Colour photos as PNG files, and a CSV manifest of (path, caption, colour). */
async function writeManifest(split: string, perColor: number, seed: number): Promise<string> {
  const lines = ['path,caption,color'];
  mkdirSync(join(root, split), { recursive: true });
  for (const { name, index, caption, png } of await colourPhotos(perColor, seed)) {
    const file = `${split}/${name}-${index}.png`;
    writeFileSync(join(root, file), png);
    lines.push(`${file},"${caption}",${name}`);
  }
  const manifest = join(root, `${split}.csv`);
  writeFileSync(manifest, `${lines.join('\n')}\n`);
  return manifest;
}

describe('image-text manifests feed CLIP', () => {
  it('`genview train` of clip on an image-text CSV learns the captions: zero-shot beats chance', async () => {
    const train = await writeManifest('train', 32, 1);
    const test = await writeManifest('test', 10, 2);
    const data = { size: 16, labelColumn: 'color', cacheSize: 16 };
    const zeroShot = await clipZeroShot(root, { name: 'image-text', file: train, ...data }, { name: 'image-text', file: test, ...data });
    expect(zeroShot, 'zero-shot top-1 of 3 colours').toBeGreaterThan(1 / 3 + 0.3);
  });
});
