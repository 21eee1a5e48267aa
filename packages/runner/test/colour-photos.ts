import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '@genview/core';
import sharp from 'sharp';
import { cli, metricOf } from './vision-language-run';

const COLORS: Record<string, [number, number, number]> = { red: [220, 30, 30], green: [30, 200, 40], blue: [40, 50, 220] };

export interface ColourPhoto {
  /** The colour, which is also the class. */
  name: string;
  index: number;
  caption: string;
  png: Uint8Array;
}

/** Noisy 16x16 PNG photos of one colour each, `perColor` of each of three colours, captioned with their colour. */
export async function colourPhotos(perColor: number, seed: number): Promise<ColourPhoto[]> {
  const rng = new Rng(seed);
  const photos: ColourPhoto[] = [];
  for (const [name, rgb] of Object.entries(COLORS)) {
    for (let index = 0; index < perColor; index++) {
      const pixels = Buffer.alloc(16 * 16 * 3);
      for (let p = 0; p < pixels.length; p++) pixels[p] = Math.max(0, Math.min(255, rgb[p % 3] + Math.round((rng.float() - 0.5) * 80)));
      const png = new Uint8Array(await sharp(pixels, { raw: { width: 16, height: 16, channels: 3 } }).png().toBuffer());
      photos.push({ name, index, caption: `a photo of something ${name}, number ${index}`, png });
    }
  }
  return photos;
}

/**
 * `genview train` of a small CLIP for 40 steps on the given train and test dataset configs (each a
 * dataset of colourPhotos with captions and colour labels); returns its zero-shot top-1 over the colours.
 */
export async function clipZeroShot(root: string, train: Record<string, unknown>, test: Record<string, unknown>): Promise<number | undefined> {
  const outDir = join(root, 'run');
  const config = {
    seed: 0,
    outDir,
    data: { train, test },
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
  return metricOf(outDir, 0, 'zero-shot', 'zeroshot_top1');
}
