import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '@genview/core';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, metricOf } from './vision-language-run';

const root = mkdtempSync(join(tmpdir(), 'genview-image-text-clip-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const COLORS: Record<string, [number, number, number]> = { red: [220, 30, 30], green: [30, 200, 40], blue: [40, 50, 220] };

/** Noisy 16x16 photos of one colour each, as PNG files, and a CSV manifest of (path, caption, colour). */
async function writeManifest(split: string, perColor: number, seed: number): Promise<string> {
  const rng = new Rng(seed);
  const lines = ['path,caption,color'];
  mkdirSync(join(root, split), { recursive: true });
  for (const [name, rgb] of Object.entries(COLORS)) {
    for (let i = 0; i < perColor; i++) {
      const pixels = Buffer.alloc(16 * 16 * 3);
      for (let p = 0; p < pixels.length; p++) pixels[p] = Math.max(0, Math.min(255, rgb[p % 3] + Math.round((rng.float() - 0.5) * 80)));
      const file = `${split}/${name}-${i}.png`;
      await sharp(pixels, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(join(root, file));
      lines.push(`${file},"a photo of something ${name}, number ${i}",${name}`);
    }
  }
  const manifest = join(root, `${split}.csv`);
  writeFileSync(manifest, `${lines.join('\n')}\n`);
  return manifest;
}

describe('image-text manifests feed CLIP', () => {
  it('`genview train` of clip on an image-text CSV learns the captions: zero-shot beats chance', async () => {
    const train = await writeManifest('train', 32, 1);
    const test = await writeManifest('test', 10, 2);
    const outDir = join(root, 'run');
    const data = { size: 16, labelColumn: 'color', cacheSize: 16 };
    const config = {
      seed: 0,
      outDir,
      data: { train: { name: 'image-text', file: train, ...data }, test: { name: 'image-text', file: test, ...data } },
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
