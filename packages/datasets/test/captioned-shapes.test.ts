import { EventBus, Registry, Rng, isGenviewError, tf } from '@genview/core';
import { describe, expect, it } from 'vitest';
import {
  type CaptionedShapesDataset,
  RELATION_NAMES,
  SHAPE_ATTRIBUTE_COLUMNS,
  SHAPE_COLORS,
  SHAPE_NAMES,
  SIZE_NAMES,
  TEXTURE_NAMES,
  captionedShapes,
  plugins,
  sampleShapeScene,
} from '../src/index';

const registry = new Registry().register(plugins);
const context = () => ({ rng: new Rng(0), events: new EventBus(), path: 'dataset' });

const COLOR_WORDS = SHAPE_COLORS.map((c) => c.name);
const PHRASE = `an? (small|large) (?:(striped|dotted) )?(${COLOR_WORDS.join('|')}) (${SHAPE_NAMES.join('|')})`;
const CAPTION = new RegExp(`^${PHRASE}(?: (${RELATION_NAMES.join('|')}) ${PHRASE})?$`);

interface ParsedObject {
  size: string;
  texture: string;
  color: string;
  shape: string;
}

/** Reads a caption back into its objects and relation; fails the test on anything else. */
function parse(caption: string): { objects: ParsedObject[]; relation?: string } {
  const m = CAPTION.exec(caption);
  expect(m, caption).not.toBeNull();
  const g = m as RegExpExecArray;
  const object = (at: number): ParsedObject => ({ size: g[at] as string, texture: g[at + 1] ?? 'solid', color: g[at + 2] as string, shape: g[at + 3] as string });
  return g[5] === undefined ? { objects: [object(1)] } : { objects: [object(1), object(6)], relation: g[5] };
}

async function pixelsOf(dataset: CaptionedShapesDataset, indices: number[]): Promise<Float32Array> {
  const { images } = await dataset.read(indices);
  const data = (await images.data()) as Float32Array;
  images.dispose();
  return data;
}

const cosine = (p: readonly number[], q: readonly number[]) => {
  const dot = p[0]! * q[0]! + p[1]! * q[1]! + p[2]! * q[2]!;
  return dot / Math.hypot(...p) / Math.hypot(...q);
};

/** The colour word whose RGB direction is closest to a pixel's. */
function nearestColor(rgb: readonly number[]): { name: string; cos: number } {
  return SHAPE_COLORS.map((c) => ({ name: c.name, cos: cosine(rgb, c.rgb) })).sort((a, b) => b.cos - a.cos)[0]!;
}

describe('captioned-shapes', () => {
  it('is deterministic from (seed, index): same seed same data, sample i independent of count', async () => {
    const a = captionedShapes({ count: 20, seed: 3 });
    const b = captionedShapes({ count: 20, seed: 3 });
    const few = captionedShapes({ count: 5, seed: 3 });
    const other = captionedShapes({ count: 20, seed: 4 });
    expect(b.captions).toEqual(a.captions);
    expect(few.captions).toEqual(a.captions.slice(0, 5));
    expect(other.captions).not.toEqual(a.captions);
    const [pa, pb, pf] = await Promise.all([pixelsOf(a, [0, 1, 2, 3, 4]), pixelsOf(b, [0, 1, 2, 3, 4]), pixelsOf(few, [0, 1, 2, 3, 4])]);
    expect(Array.from(pb)).toEqual(Array.from(pa));
    expect(Array.from(pf)).toEqual(Array.from(pa));
    expect(Array.from(a.attributes)).toEqual(Array.from(b.attributes));
  });

  it('captions say what is drawn: colour at each object centre, relation by pixel centroids, attributes and label', async () => {
    const size = 32;
    const data = captionedShapes({ count: 300, seed: 1, size });
    const indices = Array.from({ length: 300 }, (_, i) => i);
    const px = await pixelsOf(data, indices);
    const k = SHAPE_ATTRIBUTE_COLUMNS.length;
    let relationsChecked = 0;
    for (const i of indices) {
      const caption = data.captions[i]!;
      const { objects, relation } = parse(caption);
      const scene = data.scenes[i]!;
      expect(objects.length).toBe(scene.objects.length);
      const row = Array.from(data.attributes.subarray(i * k, (i + 1) * k));
      expect(data.labels![i]).toBe(SHAPE_NAMES.indexOf(objects[0]!.shape as never));
      objects.forEach((o, j) => {
        const at = j * 6;
        expect([SHAPE_NAMES[row[at]!], COLOR_WORDS[row[at + 1]!], SIZE_NAMES[row[at + 2]!], TEXTURE_NAMES[row[at + 3]!]], caption).toEqual([o.shape, o.color, o.size, o.texture]);
        // The pixel at the object's centre has the direction of the named colour (texture only scales it).
        const s = scene.objects[j]!;
        const p = (i * size * size + Math.floor(s.cy * size) * size + Math.floor(s.cx * size)) * 3;
        const rgb = [px[p]!, px[p + 1]!, px[p + 2]!];
        const nearest = nearestColor(rgb);
        expect(nearest.name, `${caption}: centre of object ${j} is ${rgb}`).toBe(o.color);
        expect(nearest.cos).toBeGreaterThan(0.99);
      });
      expect(row[4]).toBe(objects.length - 1);
      expect(row[5]).toBe(relation === undefined ? -1 : RELATION_NAMES.indexOf(relation as never));
      if (relation === undefined || objects[0]!.color === objects[1]!.color) continue;
      // Centroids of the pixels showing each object's colour, found from the image alone.
      const centroid = (color: string) => {
        let sx = 0;
        let sy = 0;
        let n = 0;
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            const p = (i * size * size + y * size + x) * 3;
            const rgb = [px[p]!, px[p + 1]!, px[p + 2]!];
            if (Math.max(...rgb) > 0.25 && cosine(rgb, SHAPE_COLORS.find((c) => c.name === color)!.rgb) > 0.995) {
              sx += x;
              sy += y;
              n++;
            }
          }
        }
        expect(n, `${caption}: no ${color} pixels`).toBeGreaterThan(0);
        return { x: sx / n, y: sy / n };
      };
      const first = centroid(objects[0]!.color);
      const second = centroid(objects[1]!.color);
      const truth = { 'left of': first.x < second.x, 'right of': first.x > second.x, above: first.y < second.y, below: first.y > second.y };
      expect(truth[relation as keyof typeof truth], `${caption}: centroids ${JSON.stringify([first, second])}`).toBe(true);
      relationsChecked++;
    }
    // About half the images hold two objects, and most pairs differ in colour.
    expect(relationsChecked).toBeGreaterThan(80);
  });

  it('draws textures: striped and dotted objects vary inside, solid ones do not', async () => {
    const size = 64;
    const data = captionedShapes({ count: 120, seed: 5, size });
    const px = await pixelsOf(data, Array.from({ length: 120 }, (_, i) => i));
    const seen = new Set<string>();
    data.scenes.forEach((scene, i) => {
      for (const o of scene.objects) {
        if (o.size !== 1) continue;
        // Pixels wholly within 0.3 radius of the centre lie inside every shape at any rotation.
        const r = o.radius * size;
        const levels: number[] = [];
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            if (Math.hypot(x + 0.5 - o.cx * size, y + 0.5 - o.cy * size) + Math.SQRT1_2 > 0.3 * r) continue;
            const p = (i * size * size + y * size + x) * 3;
            levels.push(Math.max(px[p]!, px[p + 1]!, px[p + 2]!));
          }
        }
        const ratio = Math.max(...levels) / Math.min(...levels);
        const texture = TEXTURE_NAMES[o.texture]!;
        seen.add(texture);
        if (texture === 'solid') expect(ratio).toBeLessThan(1.02);
        else expect(ratio, `${texture} object of image ${i}`).toBeGreaterThan(1.4);
      }
    });
    expect(seen.size).toBe(3);
  });

  it('balances labels over the shapes and covers every colour, size, texture and relation', () => {
    const data = captionedShapes({ count: 6000, seed: 2, size: 16, antialias: 1 });
    const counts = new Array(SHAPE_NAMES.length).fill(0);
    for (const label of data.labels!) counts[label]++;
    // Uniform draws: 1000 each, standard deviation about 29.
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(120);
    for (const column of ['color', 'size', 'texture', 'relation'] as const) {
      const values = new Set(data.column(column));
      values.delete(-1);
      const expected = { color: SHAPE_COLORS.length, size: 2, texture: 3, relation: 4 }[column];
      expect(values.size, column).toBe(expected);
    }
    const two = data.column('objects').reduce((s, v) => s + v, 0) / 6000;
    expect(Math.abs(two - 0.5)).toBeLessThan(0.03);
  });

  it('leaves size and texture words out at omitProbability without changing a pixel', async () => {
    const full = captionedShapes({ count: 200, seed: 9, size: 16 });
    const terse = captionedShapes({ count: 200, seed: 9, size: 16, omitProbability: 1 });
    expect(terse.captions.every((c) => !/\b(small|large|striped|dotted)\b/.test(c))).toBe(true);
    expect(terse.captions.some((c, i) => c !== full.captions[i])).toBe(true);
    expect(Array.from(await pixelsOf(terse, [0, 1, 2]))).toEqual(Array.from(await pixelsOf(full, [0, 1, 2])));
    expect(Array.from(terse.attributes)).toEqual(Array.from(full.attributes));
    expect(sampleShapeScene(9, 7, { omitProbability: 1 }).caption).toBe(terse.captions[7]);
  });

  it('as a plugin: splits, captions on every batch, labelBy, and no leaked tensors', async () => {
    const before = tf.memory().numTensors;
    const train = await registry.create('dataset', { name: 'captioned-shapes', count: 12 }, context());
    const test = await registry.create('dataset', { name: 'captioned-shapes', split: 'test', count: 12 }, context());
    expect(train.info).toMatchObject({ name: 'captioned-shapes/train', size: 12, imageShape: [32, 32, 3], classNames: [...SHAPE_NAMES] });
    expect(test.captions).not.toEqual(train.captions);
    const batch = await train.read([3, 0, 7]);
    expect(batch.captions).toEqual([train.captions![3], train.captions![0], train.captions![7]]);
    expect(batch.images.shape).toEqual([3, 32, 32, 3]);
    batch.images.dispose();
    const byColor = await registry.create('dataset', { name: 'captioned-shapes', count: 12, labelBy: 'color' }, context());
    expect(byColor.info.classNames).toEqual(COLOR_WORDS);
    expect(Array.from(byColor.labels!)).toEqual(Array.from((train as CaptionedShapesDataset).column('color')));
    expect(byColor.captions).toEqual(train.captions);
    const relabelled = await byColor.read([1]);
    expect(relabelled.captions).toEqual([train.captions![1]]);
    relabelled.images.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('builds the default test split (2,000 images at 32 px) in seconds', async () => {
    const start = performance.now();
    const test = await registry.create('dataset', { name: 'captioned-shapes', split: 'test' }, context());
    const seconds = (performance.now() - start) / 1000;
    expect(test.info).toMatchObject({ size: 2_000, imageShape: [32, 32, 3] });
    expect(test.captions).toHaveLength(2_000);
    expect(seconds).toBeLessThan(10);
  });

  it('names the field of a bad config', async () => {
    await expect(registry.create('dataset', { name: 'captioned-shapes', size: 8 }, context())).rejects.toThrow(/dataset\.size/);
    await expect(registry.create('dataset', { name: 'captioned-shapes', twoObjectProbability: 2 }, context())).rejects.toThrow(/dataset\.twoObjectProbability/);
    await expect(registry.create('dataset', { name: 'captioned-shapes', shapes: 3 }, context())).rejects.toThrow(/shapes/);
    for (const [options, field] of [
      [{ count: 0 }, 'count'],
      [{ count: 2, size: 10 }, 'size'],
      [{ count: 2, antialias: 0 }, 'antialias'],
      [{ count: 2, omitProbability: -0.1 }, 'omitProbability'],
    ] as const) {
      let caught: unknown;
      try {
        captionedShapes(options);
      } catch (error) {
        caught = error;
      }
      expect(isGenviewError(caught, 'INVALID_CONFIG'), String(caught)).toBe(true);
      expect((caught as { where: string }).where).toBe(`captioned-shapes.${field}`);
    }
  });
});
