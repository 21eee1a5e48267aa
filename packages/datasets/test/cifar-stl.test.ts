import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus, Registry, Rng, type tf } from '@genview/core';
import { afterAll, describe, expect, it } from 'vitest';
import { plugins } from '../src/index';
import { rejection } from '../../../tools/vitest/rejection';

const root = mkdtempSync(join(tmpdir(), 'genview-cifar-stl-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const registry = new Registry().register(plugins);
const context = { rng: new Rng(0), events: new EventBus(), path: 'data.train' };

/** A pixel value that identifies (image, y, x, channel), so a layout mix-up shows. */
const pixel = (image: number, y: number, x: number, c: number) => (image * 7 + y * 5 + x * 3 + c * 11) % 256;

/** CIFAR records: label bytes, then R, G, B planes of 32x32, row-major. */
function cifarFile(path: string, labels: number[][], firstImage: number): void {
  const plane = 32 * 32;
  const record = labels[0].length + 3 * plane;
  const bytes = Buffer.alloc(labels.length * record);
  labels.forEach((labelBytes, r) => {
    const at = r * record;
    labelBytes.forEach((b, i) => {
      bytes[at + i] = b;
    });
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) bytes[at + labelBytes.length + c * plane + y * 32 + x] = pixel(firstImage + r, y, x, c);
  });
  writeFileSync(path, bytes);
}

/** STL-10 images: three 96x96 planes, each column-major (x outer, y inner). */
function stlImages(path: string, count: number, firstImage: number): void {
  const plane = 96 * 96;
  const bytes = Buffer.alloc(count * 3 * plane);
  for (let i = 0; i < count; i++) {
    for (let c = 0; c < 3; c++) for (let x = 0; x < 96; x++) for (let y = 0; y < 96; y++) bytes[i * 3 * plane + c * plane + x * 96 + y] = pixel(firstImage + i, y, x, c);
  }
  writeFileSync(path, bytes);
}

async function expectPixels(images: tf.Tensor4D, imageIds: number[], points: [number, number][]): Promise<void> {
  const data = await images.data();
  const [, h, w] = images.shape;
  imageIds.forEach((image, row) => {
    for (const [y, x] of points) for (let c = 0; c < 3; c++) expect(data[((row * h + y) * w + x) * 3 + c]).toBeCloseTo(pixel(image, y, x, c) / 255, 6);
  });
}

describe('cifar-10 (binary version)', () => {
  const dir = join(root, 'c10', 'cifar-10-batches-bin');
  mkdirSync(dir, { recursive: true });
  // Five train batches of 3 images, a test batch of 2; labels cycle through the classes.
  for (let b = 1; b <= 5; b++) cifarFile(join(dir, `data_batch_${b}.bin`), [[(b * 3) % 10], [(b * 3 + 1) % 10], [(b * 3 + 2) % 10]], (b - 1) * 3);
  cifarFile(join(dir, 'test_batch.bin'), [[9], [0]], 100);

  it('reads every train batch in order, from the archive folder inside dir, with labels and class names', async () => {
    const data = await registry.create('dataset', { name: 'cifar-10', dir: join(root, 'c10') }, context);
    expect(data.info).toMatchObject({ name: 'cifar-10/train', size: 15, imageShape: [32, 32, 3] });
    expect(data.info.classNames?.[0]).toBe('airplane');
    expect(Array.from(data.labels ?? [])).toEqual([3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7]);
    const batch = await data.read([14, 0, 7]);
    expect(batch.images.shape).toEqual([3, 32, 32, 3]);
    expect(Array.from(batch.labels ?? [])).toEqual([7, 3, 0]);
    await expectPixels(batch.images, [14, 0, 7], [[0, 0], [0, 31], [31, 0], [17, 5]]);
    batch.images.dispose();
    const test = await registry.create('dataset', { name: 'cifar-10', dir, split: 'test', limit: 1 }, context);
    expect(test.info.size).toBe(1);
    expect(Array.from(test.labels ?? [])).toEqual([9]);
  });

  it('names the missing files, a truncated batch, the python edition and a bad label', async () => {
    const empty = join(root, 'c10-empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'data_batch_1.bin'), Buffer.alloc(3073));
    let e = await rejection(registry.create('dataset', { name: 'cifar-10', dir: empty }, context));
    expect(e.message).toContain('data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin');
    expect(e.fix).toContain('test_batch.bin');
    e = await rejection(registry.create('dataset', { name: 'cifar-10', dir: join(root, 'nowhere') }, context));
    expect(e.code).toBe('NOT_FOUND');

    const python = join(root, 'c10-py');
    mkdirSync(python);
    writeFileSync(join(python, 'data_batch_1'), 'pickle');
    e = await rejection(registry.create('dataset', { name: 'cifar-10', dir: python }, context));
    expect(e.message).toContain('another edition');
    expect(e.fix).toContain('binary version');

    const truncated = join(root, 'c10-cut');
    mkdirSync(truncated);
    cifarFile(join(truncated, 'test_batch.bin'), [[1], [2]], 0);
    truncateSync(join(truncated, 'test_batch.bin'), 3073 + 1000);
    e = await rejection(registry.create('dataset', { name: 'cifar-10', dir: truncated, split: 'test' }, context));
    expect(e.message).toContain(join(truncated, 'test_batch.bin'));
    expect(e.message).toContain('not a whole number of 3073-byte records');

    cifarFile(join(truncated, 'test_batch.bin'), [[1], [42]], 0);
    e = await rejection(registry.create('dataset', { name: 'cifar-10', dir: truncated, split: 'test' }, context));
    expect(e.message).toMatch(/record 1 has label 42/);
  });
});

describe('cifar-100 (binary version)', () => {
  const dir = join(root, 'c100');
  mkdirSync(dir);
  cifarFile(join(dir, 'train.bin'), [[3, 57], [19, 99], [0, 0]], 0);
  writeFileSync(join(dir, 'coarse_label_names.txt'), `${Array.from({ length: 20 }, (_, i) => `super${i}`).join('\n')}\n`);

  it('gives fine or coarse labels and the names file when present', async () => {
    const fine = await registry.create('dataset', { name: 'cifar-100', dir }, context);
    expect(Array.from(fine.labels ?? [])).toEqual([57, 99, 0]);
    expect(fine.info.classNames).toHaveLength(100);
    const coarse = await registry.create('dataset', { name: 'cifar-100', dir, labels: 'coarse' }, context);
    expect(Array.from(coarse.labels ?? [])).toEqual([3, 19, 0]);
    expect(coarse.info.classNames?.[19]).toBe('super19');
    const batch = await coarse.read([2, 1]);
    await expectPixels(batch.images, [2, 1], [[0, 0], [31, 31], [4, 20]]);
    batch.images.dispose();
  });

  it('refuses a CIFAR-10 file passed as CIFAR-100 (a coarse label out of range) and a missing test.bin', async () => {
    const wrong = join(root, 'c100-wrong');
    mkdirSync(wrong);
    cifarFile(join(wrong, 'train.bin'), [[30, 2]], 0);
    let e = await rejection(registry.create('dataset', { name: 'cifar-100', dir: wrong, labels: 'coarse' }, context));
    expect(e.message).toMatch(/label 30, outside \[0, 20\)/);
    e = await rejection(registry.create('dataset', { name: 'cifar-100', dir, split: 'test' }, context));
    expect(e.message).toContain('lacks test.bin');
  });
});

describe('stl-10 (binary version)', () => {
  const dir = join(root, 'stl', 'stl10_binary');
  mkdirSync(dir, { recursive: true });
  stlImages(join(dir, 'train_X.bin'), 3, 0);
  writeFileSync(join(dir, 'train_y.bin'), Buffer.from([1, 10, 4]));
  stlImages(join(dir, 'test_X.bin'), 2, 50);
  writeFileSync(join(dir, 'test_y.bin'), Buffer.from([2, 3]));
  stlImages(join(dir, 'unlabeled_X.bin'), 4, 200);

  it('reads column-major images, labels 1..10 as 0..9, and the unlabelled splits without labels', async () => {
    const train = await registry.create('dataset', { name: 'stl-10', dir: join(root, 'stl') }, context);
    expect(train.info).toMatchObject({ name: 'stl-10/train', size: 3, imageShape: [96, 96, 3] });
    expect(Array.from(train.labels ?? [])).toEqual([0, 9, 3]);
    expect(train.info.classNames?.[9]).toBe('truck');
    const batch = await train.read([2, 0]);
    await expectPixels(batch.images, [2, 0], [[0, 0], [0, 95], [95, 0], [10, 70]]);
    batch.images.dispose();

    const both = await registry.create('dataset', { name: 'stl-10', dir, split: 'train+unlabeled' }, context);
    expect(both.info.size).toBe(7);
    expect(both.labels).toBeUndefined();
    expect(both.info.classNames).toBeUndefined();
    const mixed = await both.read([6, 2, 3]);
    // Index 3 is the first unlabelled image (id 200), index 6 the last (id 203).
    await expectPixels(mixed.images, [203, 2, 200], [[1, 2], [95, 95]]);
    expect(mixed.labels).toBeUndefined();
    mixed.images.dispose();
    const unlabeled = await registry.create('dataset', { name: 'stl-10', dir, split: 'unlabeled', limit: 2 }, context);
    expect(unlabeled.info.size).toBe(2);
    await expect(unlabeled.read([2])).rejects.toThrow(/outside \[0, 2\)/);
  });

  it('names a truncated image file, a label count that does not match, bad labels and missing files', async () => {
    const bad = join(root, 'stl-bad');
    mkdirSync(bad);
    stlImages(join(bad, 'test_X.bin'), 2, 0);
    truncateSync(join(bad, 'test_X.bin'), 27648 + 5);
    writeFileSync(join(bad, 'test_y.bin'), Buffer.from([1, 2]));
    let e = await rejection(registry.create('dataset', { name: 'stl-10', dir: bad, split: 'test' }, context));
    expect(e.message).toContain('test_X.bin');
    expect(e.message).toContain('27648-byte records');
    expect(e.fix).toContain('column-major');

    stlImages(join(bad, 'test_X.bin'), 2, 0);
    writeFileSync(join(bad, 'test_y.bin'), Buffer.from([1, 2, 3]));
    e = await rejection(registry.create('dataset', { name: 'stl-10', dir: bad, split: 'test' }, context));
    expect(e.message).toMatch(/holds 3 labels but its images file holds 2 images/);

    writeFileSync(join(bad, 'test_y.bin'), Buffer.from([0, 2]));
    e = await rejection(registry.create('dataset', { name: 'stl-10', dir: bad, split: 'test' }, context));
    expect(e.message).toMatch(/label 0 is 0; labels are 1\.\.10/);

    e = await rejection(registry.create('dataset', { name: 'stl-10', dir: bad, split: 'unlabeled' }, context));
    expect(e.message).toContain('lacks unlabeled_X.bin');
    expect(e.fix).toContain('train_X.bin/train_y.bin');
  });
});
