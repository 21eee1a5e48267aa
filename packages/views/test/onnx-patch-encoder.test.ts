import { fileURLToPath } from 'node:url';
import { GenviewError, Rng, type Tensor2D, type Tensor4D, l2Normalize, tf } from '@genview/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxClipModel, OnnxPatchEncoder } from '../src/index';

// tools/diffusion/tiny_unclip/export_clip.py --random: its image tower also outputs patch_tokens.
const FIXTURE = fileURLToPath(new URL('./fixtures/tiny-random-clip', import.meta.url));
// The pipeline's image encoder exports image_embeds only.
const UNCLIP_FIXTURE = fileURLToPath(new URL('./fixtures/tiny-random-unclip', import.meta.url));

function batch(n: number, seed: number): Tensor4D {
  return tf.tensor4d(new Rng(seed).uniformArray(n * 28 * 28), [n, 28, 28, 1]);
}

describe('OnnxPatchEncoder on a tiny random CLIP export', () => {
  let encoder: OnnxPatchEncoder;
  let clip: OnnxClipModel;
  beforeAll(async () => {
    encoder = await OnnxPatchEncoder.load(FIXTURE, { threads: 1 });
    clip = await OnnxClipModel.load(FIXTURE, { threads: 1 });
  });
  afterAll(async () => {
    await encoder.dispose();
    await clip.dispose();
  });

  it('gives a 7x7 grid of tokens in the joint space whose mean is the image embedding, the same in chunks', async () => {
    expect([encoder.tokens, encoder.tokenDim]).toEqual([49, 64]);
    const images = batch(5, 1);
    const tokens = await encoder.patchTokens(images);
    expect(tokens.shape).toEqual([5, 49, 64]);
    const embeds = await clip.embedImages(images);
    const pooled = tf.tidy(() => l2Normalize(tf.mean(tokens, 1) as Tensor2D));
    const a = pooled.dataSync();
    const b = embeds.dataSync();
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i] as number, 5);
    // Not vacuous: tokens differ across the grid.
    const spread = tf.tidy(() => tf.max(tf.moments(tokens, 1).variance).dataSync()[0] as number);
    expect(spread).toBeGreaterThan(1e-6);
    const chunked = await OnnxPatchEncoder.load(FIXTURE, { threads: 1, batchSize: 2 });
    const inChunks = await chunked.patchTokens(images);
    const x = tokens.dataSync();
    const y = inChunks.dataSync();
    for (let i = 0; i < x.length; i += 97) expect(y[i]).toBeCloseTo(x[i] as number, 5);
    await chunked.dispose();
    tf.dispose([images, tokens, embeds, pooled, inChunks]);
  });

  it('says what is missing: a folder without a tower, a tower without patch_tokens', async () => {
    await expect(OnnxPatchEncoder.load(`${FIXTURE}/nowhere`)).rejects.toThrow(/no image tower/);
    const error = await OnnxPatchEncoder.load(UNCLIP_FIXTURE, { threads: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GenviewError);
    expect((error as GenviewError).message).toMatch(/no output "patch_tokens" \(it has image_embeds\)/);
    const rank3 = tf.zeros([2, 28, 28]) as unknown as Tensor4D;
    await expect(encoder.patchTokens(rank3)).rejects.toThrow(/rank 3/);
    rank3.dispose();
  });
});
