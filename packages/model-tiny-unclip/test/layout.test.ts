import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OnnxDiffusionPipeline, readPipelineFolder } from '@genview/views';
import { describe, expect, it } from 'vitest';
import { tinyUnclipPath } from '../src/index';

describe('the shipped pipeline folder', () => {
  it('is a complete unCLIP export that the loader accepts', async () => {
    const folder = await readPipelineFolder(tinyUnclipPath);
    expect(Object.values(folder.has).every(Boolean)).toBe(true);
    expect(folder.vaeScalingFactor).toBe(1);
    const pipeline = await OnnxDiffusionPipeline.load(tinyUnclipPath, { threads: 1 });
    expect(pipeline.latentShape).toEqual([4, 14, 14]);
    expect(pipeline.imageShape).toEqual([28, 28, 1]);
    expect(['image', 'text', 'image+text'].every((s) => pipeline.supports(s as 'image'))).toBe(true);
    await pipeline.dispose();
    const card = await readFile(join(tinyUnclipPath, 'README.md'), 'utf8');
    expect(card).toMatch(/Trained by `tools\/diffusion\/tiny_unclip\/train.py`/);
  });
});
