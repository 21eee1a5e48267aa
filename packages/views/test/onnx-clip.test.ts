import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, type Tensor4D, tf } from '@genview/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxClipModel } from '../src/index';

// Made by tools/diffusion/tiny_unclip/export_clip.py --random: the frozen CLIP layout with random weights.
const FIXTURE = fileURLToPath(new URL('./fixtures/tiny-random-clip', import.meta.url));
// Its text encoder exports hidden states, not text_embeds: the wrong kind of folder for a frozen CLIP.
const UNCLIP_FIXTURE = fileURLToPath(new URL('./fixtures/tiny-random-unclip', import.meta.url));

function batch(n: number, seed: number, shape: [number, number, number] = [28, 28, 1]): Tensor4D {
  return tf.tensor4d(new Rng(seed).uniformArray(n * shape[0] * shape[1] * shape[2]), [n, ...shape]);
}

describe('OnnxClipModel on a tiny random CLIP export', () => {
  let model: OnnxClipModel;
  beforeAll(async () => {
    model = await OnnxClipModel.load(FIXTURE, { threads: 1 });
  });
  afterAll(async () => {
    await model.dispose();
  });

  it('embeds images and texts into one unit-norm space, batch by batch as a whole', async () => {
    expect(model.jointDim).toBe(64);
    const images = batch(5, 1);
    const whole = await model.embedImages(images);
    expect(whole.shape).toEqual([5, 64]);
    const norms = tf.tidy(() => tf.norm(whole, 2, 1).dataSync());
    for (const n of norms) expect(n).toBeCloseTo(1, 5);
    const chunked = await OnnxClipModel.load(FIXTURE, { threads: 1, batchSize: 2 });
    const inChunks = await chunked.embedImages(images);
    const a = whole.dataSync();
    const b = inChunks.dataSync();
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i] as number, 5);
    const texts = await chunked.embedTexts(['a photo of a sneaker', 'a photo of a bag', 'a photo of a sneaker']);
    expect(texts.shape).toEqual([3, 64]);
    const t = texts.dataSync();
    for (let i = 0; i < 64; i++) expect(t[128 + i]).toBeCloseTo(t[i] as number, 6);
    expect(Array.from(t.subarray(0, 64))).not.toEqual(Array.from(t.subarray(64, 128)));
    tf.dispose([images, whole, inChunks, texts]);
    await chunked.dispose();
  });

  it('adapts colour and size as the processor config says: centre crop, resize, grey', async () => {
    // Colour 30x36 images are centre-cropped to 30x30, resized to 28x28 and averaged to grey.
    const colour = batch(2, 2, [30, 36, 3]);
    const embedded = await model.embedImages(colour);
    expect(embedded.shape).toEqual([2, 64]);
    const grey = tf.tidy(() => tf.image.resizeBilinear(tf.mean(tf.slice(colour, [0, 0, 3, 0], [2, 30, 30, 3]), -1, true) as Tensor4D, [28, 28], false, true));
    const direct = await model.embedImages(grey as Tensor4D);
    const x = embedded.dataSync();
    const y = direct.dataSync();
    for (let i = 0; i < x.length; i++) expect(x[i]).toBeCloseTo(y[i] as number, 5);
    tf.dispose([colour, embedded, grey, direct]);
  });

  it('names the missing part, the wrong output, and a bad batch size', async () => {
    await expect(OnnxClipModel.load(join(FIXTURE, 'nowhere'))).rejects.toThrow(/no folder at/);
    await expect(OnnxClipModel.load(UNCLIP_FIXTURE, { threads: 1 })).rejects.toThrow(/text_encoder model has no output "text_embeds" \(it has last_hidden_state\)/);
    await expect(OnnxClipModel.load(FIXTURE, { batchSize: 0 })).rejects.toThrow(/batchSize must be a positive integer/);
    const dir = await mkdtemp(join(tmpdir(), 'genview-clip-'));
    try {
      await cp(FIXTURE, dir, { recursive: true });
      await rm(join(dir, 'text_encoder'), { recursive: true });
      await expect(OnnxClipModel.load(dir)).rejects.toThrow(/has no text_encoder\/model.onnx \(the text tower\).*image_encoder\/model.onnx, text_encoder\/model.onnx, tokenizer\//s);
      await cp(join(FIXTURE, 'text_encoder'), join(dir, 'text_encoder'), { recursive: true });
      // Without a processor config the export's fixed input size and CLIP's [-1, 1] scaling apply (what this one was made with).
      await rm(join(dir, 'feature_extractor'), { recursive: true });
      const bare = await OnnxClipModel.load(dir, { threads: 1 });
      const images = batch(2, 4);
      const [x, y] = [await bare.embedImages(images), await model.embedImages(images)];
      expect(Array.from(x.dataSync())).toEqual(Array.from(y.dataSync()));
      tf.dispose([images, x, y]);
      await bare.dispose();
      await cp(join(FIXTURE, 'feature_extractor'), join(dir, 'feature_extractor'), { recursive: true });
      await writeFile(join(dir, 'feature_extractor', 'preprocessor_config.json'), '{"crop_size": 28,');
      await expect(OnnxClipModel.load(dir)).rejects.toThrow(/not a valid JSON object/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
