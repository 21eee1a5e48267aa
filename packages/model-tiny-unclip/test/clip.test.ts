import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EventBus, Rng, type Tensor2D, type Tensor3D, type Tensor4D, tf } from '@genview/core';
import { fashionMnistPlugin } from '@genview/datasets';
import { OnnxClipModel, OnnxDiffusionPipeline } from '@genview/views';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyClipPath, tinyUnclipPath } from '../src/index';

const CLASSES = ['t-shirt', 'pair of trousers', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot'];
const TEMPLATES = ['a photo of a {}', 'a {}', 'a grey {}', 'a picture of a {}', 'a small photo of a {}', 'a {} on a black background'];
const SOURCES = 300;

describe('the shipped frozen CLIP', () => {
  let model: OnnxClipModel;
  let images: Tensor4D;
  let labels: Int32Array;
  beforeAll(async () => {
    model = await OnnxClipModel.load(tinyClipPath, { threads: 1 });
    const dataset = await fashionMnistPlugin.create({ split: 'test', limit: SOURCES } as never, { rng: new Rng(0), events: new EventBus(), path: 'data' } as never);
    const batch = await dataset.read(Int32Array.from({ length: SOURCES }, (_, i) => i));
    images = batch.images;
    labels = dataset.labels as Int32Array;
  });
  afterAll(async () => {
    images?.dispose();
    await model?.dispose();
  });

  it('classifies test images zero-shot from class-name prompts far above chance', async () => {
    const imageRows = await model.embedImages(images);
    // Prompt ensemble: each class is the normalised mean of its templates' embeddings.
    const textRows = await model.embedTexts(CLASSES.flatMap((c) => TEMPLATES.map((t) => t.replace('{}', c))));
    const predicted = tf.tidy(() => {
      const classes = tf.mean(tf.reshape(textRows, [CLASSES.length, TEMPLATES.length, model.jointDim]), 1) as Tensor2D;
      const unit = tf.div(classes, tf.norm(classes, 2, 1, true));
      return tf.argMax(tf.matMul(imageRows, unit, false, true), 1).dataSync();
    });
    const correct = Array.from(predicted).filter((p, i) => p === labels[i]).length;
    console.log(`tiny CLIP zero-shot on ${SOURCES} test images: ${((100 * correct) / SOURCES).toFixed(1)} %`);
    expect(correct / SOURCES).toBeGreaterThan(0.8);
    tf.dispose([imageRows, textRows]);
  });

  it('has the diffusion pipeline image encoder: the same embeddings as its unCLIP conditioning', async () => {
    const pipeline = await OnnxDiffusionPipeline.load(tinyUnclipPath, { threads: 1 });
    const four = tf.slice(images, [0, 0, 0, 0], [4, -1, -1, -1]) as Tensor4D;
    const fromPipeline = await pipeline.embedImages(tf.unstack(four) as Tensor3D[]);
    const fromClip = await model.embedImages(four);
    const rows = fromClip.arraySync();
    for (const [i, raw] of fromPipeline.entries()) {
      const norm = Math.hypot(...raw);
      for (const [j, x] of Array.from(raw).entries()) expect(rows[i]?.[j]).toBeCloseTo(x / norm, 5);
    }
    tf.dispose([four, fromClip]);
    await pipeline.dispose();
    const card = await readFile(join(tinyClipPath, 'README.md'), 'utf8');
    expect(card).toMatch(/export_clip\.py/);
  });
});
