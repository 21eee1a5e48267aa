import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { EventBus, GenviewError, Registry, Rng, type GenviewEvents, tf } from '@genview/core';
import { type ImageFolderDataset, inMemoryDataset, parseIdx, plugins, readIdx } from '../src/index';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let root: string;
const registry = new Registry().register(plugins);

function context(events = new EventBus()) {
  return { rng: new Rng(0), events, path: 'dataset' };
}

/** An IDX file: magic 00 00 08 <ndims>, big-endian dims, uint8 data. */
function idx(dims: number[], data: ArrayLike<number>): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => {
    header.writeUInt32BE(d, 4 + 4 * i);
  });
  return Buffer.concat([header, Buffer.from(Uint8Array.from(data))]);
}

/** A tiny MNIST-format folder: n images of 4x3 where pixel j of image i is (i * 12 + j) % 256. */
function writeMnist(dir: string, n: { train: number; test: number }, gzip: boolean) {
  mkdirSync(dir, { recursive: true });
  for (const [split, stem] of [
    ['train', 'train'],
    ['test', 't10k'],
  ] as const) {
    const pixels = Array.from({ length: n[split] * 12 }, (_, j) => j % 256);
    const labels = Array.from({ length: n[split] }, (_, i) => i % 10);
    const write = (name: string, bytes: Buffer) => writeFileSync(join(dir, gzip ? `${name}.gz` : name), gzip ? gzipSync(bytes) : bytes);
    write(`${stem}-images-idx3-ubyte`, idx([n[split], 4, 3], pixels));
    write(`${stem}-labels-idx1-ubyte`, idx([n[split]], labels));
  }
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'genview-datasets-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('IDX reader', () => {
  it('reads raw and gzip files by content', async () => {
    const bytes = idx([2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 255]);
    writeFileSync(join(root, 'a.idx'), bytes);
    writeFileSync(join(root, 'a.idx.gz'), gzipSync(bytes));
    for (const file of ['a.idx', 'a.idx.gz']) {
      const parsed = await readIdx(join(root, file), 'images');
      expect(parsed.dims).toEqual([2, 2, 2]);
      expect(Array.from(parsed.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 255]);
    }
  });

  it('names the file and what was expected for bad magic, wrong kind and truncation', async () => {
    expect(() => parseIdx(Buffer.from('PK\x03\x04abcdefgh'), 'x.bin', 'images')).toThrow(/x\.bin.*not an IDX file: expected the magic bytes 00 00 08 0N \(images: magic 00 00 08 03\), found "50 4b 03 04"/);
    expect(() => parseIdx(idx([3], [1, 2, 3]), 'labels.idx', 'images')).toThrow(/labels\.idx.*expected an IDX images file with 3 dimension/);
    expect(() => parseIdx(idx([10, 2, 2], [1, 2, 3]), 'short.idx', 'images')).toThrow(/short\.idx.*truncated IDX data: dimensions \[10, 2, 2\] need 40 bytes after the header, the file has 3/);
    expect(() => parseIdx(Buffer.from([0, 0, 8, 3, 0, 0]), 'head.idx')).toThrow(/truncated IDX header/);
    const bad = Buffer.from(idx([1], [1]));
    bad[2] = 0x0d;
    expect(() => parseIdx(bad, 'f.idx')).toThrow(/0x0d \(float32\) is not supported/);
    writeFileSync(join(root, 'broken.gz'), gzipSync(idx([100], new Array(100).fill(1))).subarray(0, 20));
    const err = await readIdx(join(root, 'broken.gz'), 'labels').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GenviewError);
    expect((err as GenviewError).message).toMatch(/broken\.gz.*gzip data is corrupt or truncated/);
    await expect(readIdx(join(root, 'missing.idx'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('mnist', () => {
  it('reads a fixture folder (gzip and raw), with labels, limit and exact pixels', async () => {
    for (const gzip of [true, false]) {
      const dir = join(root, gzip ? 'mnist-gz' : 'mnist-raw');
      writeMnist(dir, { train: 30, test: 7 }, gzip);
      const train = await registry.create('dataset', { name: 'mnist', dir }, context());
      expect(train.info).toMatchObject({ name: 'mnist/train', size: 30, imageShape: [4, 3, 1] });
      expect(train.info.classNames).toHaveLength(10);
      expect(Array.from(train.labels!.subarray(0, 12))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
      const batch = await train.read([2, 0]);
      expect(batch.images.shape).toEqual([2, 4, 3, 1]);
      const expected = [...Array.from({ length: 12 }, (_, j) => (24 + j) / 255), ...Array.from({ length: 12 }, (_, j) => j / 255)];
      const got = batch.images.dataSync();
      expected.forEach((v, i) => {
        expect(got[i]).toBeCloseTo(v, 6);
      });
      expect(Array.from(batch.labels!)).toEqual([2, 0]);
      expect(Array.from(batch.indices)).toEqual([2, 0]);
      batch.images.dispose();
      const test = await registry.create('dataset', { name: 'mnist', dir, split: 'test', limit: 5 }, context());
      expect(test.info.size).toBe(5);
      await expect(test.read([5])).rejects.toThrow(/index 5 \(position 0\) is outside \[0, 5\)/);
    }
  });

  it('explains that dir is required and what a folder must hold', async () => {
    await expect(registry.create('dataset', 'mnist', context())).rejects.toThrow(/dataset\.dir: mnist needs `dir`.*not bundled/);
    await expect(registry.create('dataset', { name: 'mnist', dir: root }, context())).rejects.toThrow(/no train-images-idx3-ubyte\[\.gz\]/);
    const dir = join(root, 'mismatch');
    writeMnist(dir, { train: 3, test: 1 }, false);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx([4], [0, 1, 2, 3]));
    await expect(registry.create('dataset', { name: 'mnist', dir }, context())).rejects.toThrow(/holds 3 images but .* holds 4 labels/);
  });
});

describe('fashion-mnist', () => {
  it('loads the packaged 60k train split in a few seconds with the official labels', async () => {
    const start = performance.now();
    const train = await registry.create('dataset', 'fashion-mnist', context());
    const seconds = (performance.now() - start) / 1000;
    expect(seconds).toBeLessThan(5);
    expect(train.info).toMatchObject({ name: 'fashion-mnist/train', size: 60000, imageShape: [28, 28, 1] });
    expect(train.info.classNames?.[9]).toBe('Ankle boot');
    const counts = new Array(10).fill(0);
    for (const label of train.labels!) counts[label]++;
    expect(counts).toEqual(new Array(10).fill(6000));
    expect(train.labels![0]).toBe(9);
    const batch = await train.read([0, 59999]);
    expect(batch.images.shape).toEqual([2, 28, 28, 1]);
    const px = batch.images.dataSync();
    expect(Math.min(...px)).toBe(0);
    expect(Math.max(...px)).toBeLessThanOrEqual(1);
    expect(Array.from(px).reduce((s, v) => s + v, 0)).toBeGreaterThan(10);
    batch.images.dispose();
    const test = await registry.create('dataset', { name: 'fashion-mnist', split: 'test', limit: 100 }, context());
    expect(test.info.size).toBe(100);
    expect(test.labels![0]).toBe(9);
  });

  it('reads a user folder through dir', async () => {
    const dir = join(root, 'fmnist');
    writeMnist(dir, { train: 4, test: 2 }, true);
    const ds = await registry.create('dataset', { name: 'fashion-mnist', dir, split: 'test' }, context());
    expect(ds.info).toMatchObject({ size: 2, classNames: expect.arrayContaining(['Trouser']) });
    await expect(registry.create('dataset', { name: 'fashion-mnist', dir: join(root, 'nope') }, context())).rejects.toThrow(/dataset\.dir: no train-images/);
  });
});

describe('inMemoryDataset', () => {
  it('serves uint8 and float pixels as [0, 1] batches', async () => {
    const u8 = inMemoryDataset(Uint8Array.from([0, 51, 255, 102]), [2, 1, 2, 1], [1, 0], ['a', 'b']);
    const b = await u8.read([1]);
    expect(Array.from(b.images.dataSync())).toEqual([1, 0.4].map((v) => Math.fround(v)));
    expect(Array.from(b.labels!)).toEqual([0]);
    const f32 = inMemoryDataset(Float32Array.from([0.5, 0.25, 0, 1, 1, 1]), [2, 1, 1, 3]);
    const c = await f32.read([0, 1, 0]);
    expect(c.images.shape).toEqual([3, 1, 1, 3]);
    expect(Array.from(c.images.dataSync())).toEqual([0.5, 0.25, 0, 1, 1, 1, 0.5, 0.25, 0]);
    expect(c.labels).toBeUndefined();
    tf.dispose([b.images, c.images]);
  });

  it('rejects inconsistent input', () => {
    expect(() => inMemoryDataset(new Uint8Array(5), [1, 2, 2, 1])).toThrow(/pixel array has 5 values but shape \[1, 2, 2, 1\] needs 4/);
    expect(() => inMemoryDataset(new Uint8Array(8), [1, 2, 2, 2])).toThrow(/1 or 3 channels/);
    expect(() => inMemoryDataset(Float32Array.from([2]), [1, 1, 1, 1])).toThrow(/\[0, 1\]/);
    expect(() => inMemoryDataset(new Uint8Array(2), [2, 1, 1, 1], [0, 3], ['a', 'b'])).toThrow(/label 1 is 3/);
  });
});

describe('image-folder', () => {
  const png = (w: number, h: number, rgb: [number, number, number]) =>
    sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();

  it('labels by class subfolder, resizes, and reports skipped files by path', async () => {
    const dir = join(root, 'folder-labelled');
    mkdirSync(join(dir, 'cats', 'nested'), { recursive: true });
    mkdirSync(join(dir, 'dogs'), { recursive: true });
    writeFileSync(join(dir, 'cats', 'a.png'), await png(10, 6, [255, 0, 0]));
    writeFileSync(join(dir, 'cats', 'nested', 'b.png'), await png(5, 5, [0, 255, 0]));
    writeFileSync(join(dir, 'dogs', 'c.png'), await png(8, 8, [0, 0, 255]));
    writeFileSync(join(dir, 'dogs', 'broken.png'), Buffer.from('not really a png'));
    writeFileSync(join(dir, 'dogs', 'notes.txt'), 'hello');
    const events = new EventBus();
    const warnings: GenviewEvents['log'][] = [];
    events.on('log', (e) => {
      if (e.level === 'warn') warnings.push(e);
    });
    const ds = (await registry.create('dataset', { name: 'image-folder', dir, size: [4, 6] }, context(events))) as ImageFolderDataset;
    expect(ds.info).toMatchObject({ size: 3, imageShape: [4, 6, 3], classNames: ['cats', 'dogs'] });
    expect(Array.from(ds.labels!)).toEqual([0, 0, 1]);
    expect(ds.files).toEqual([join('cats', 'a.png'), join('cats', 'nested', 'b.png'), join('dogs', 'c.png')]);
    expect(ds.skipped.map((s) => s.path)).toEqual([join(dir, 'dogs', 'broken.png'), join(dir, 'dogs', 'notes.txt')]);
    expect(ds.skipped[0].reason).toMatch(/cannot decode/);
    expect(ds.skipped[1].reason).toMatch(/not an image file/);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toMatch(/skipped 2 file\(s\).*broken\.png/);
    const batch = await ds.read([0, 2]);
    const px = batch.images.dataSync();
    // Solid colours survive resizing exactly: red then blue.
    expect(Array.from(px.slice(0, 3))).toEqual([1, 0, 0]);
    expect(Array.from(px.slice(4 * 6 * 3, 4 * 6 * 3 + 3))).toEqual([0, 0, 1]);
    batch.images.dispose();
  });

  it('reads a flat folder as unlabelled grayscale', async () => {
    const dir = join(root, 'folder-flat');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '1.png'), await png(7, 7, [255, 255, 255]));
    writeFileSync(join(dir, '2.png'), await png(3, 9, [0, 0, 0]));
    const ds = await registry.create('dataset', { name: 'image-folder', dir, size: 5, channels: 1 }, context());
    expect(ds.info).toMatchObject({ size: 2, imageShape: [5, 5, 1] });
    expect(ds.labels).toBeUndefined();
    expect(ds.info.classNames).toBeUndefined();
    const batch = await ds.read([0, 1]);
    const px = batch.images.dataSync();
    expect(px[0]).toBe(1);
    expect(px[25]).toBe(0);
    batch.images.dispose();
  });

  it('decodes on demand: nothing at load, each batch only its rows, the cache bounded by cacheSize', async () => {
    const dir = join(root, 'folder-lazy');
    mkdirSync(dir, { recursive: true });
    // Image i is the grey level 10 * i, so every row read back says which file it came from.
    for (let i = 0; i < 12; i++) writeFileSync(join(dir, `${String(i).padStart(2, '0')}.png`), await png(6, 6, [10 * i, 10 * i, 10 * i]));
    const ds = (await registry.create('dataset', { name: 'image-folder', dir, size: 3, channels: 1, cacheSize: 4, concurrency: 2 }, context())) as ImageFolderDataset;
    expect(ds.info.size).toBe(12);
    expect(ds.decodedImages).toBe(0);
    const first = await ds.read([5, 0, 5]);
    expect(ds.decodedImages).toBe(2);
    expect(Array.from(first.images.dataSync()).filter((_, j) => j % 9 === 0).map((v) => Math.round(v * 255))).toEqual([50, 0, 50]);
    first.images.dispose();
    for (const rows of [
      [1, 2],
      [3, 4],
      [6, 7],
      [8, 9],
    ]) (await ds.read(rows)).images.dispose();
    expect(ds.decodedImages).toBe(10);
    expect(ds.cachedImages).toBe(4);
    // The four most recently read rows are cached (no new decode); row 0 was evicted (decoded again).
    (await ds.read([6, 7, 8, 9])).images.dispose();
    expect(ds.decodedImages).toBe(10);
    (await ds.read([0])).images.dispose();
    expect(ds.decodedImages).toBe(11);
    // prefetch starts the next batch's decodes; reading it then costs none.
    ds.prefetch([10, 11]);
    const prefetched = await ds.read([11, 10]);
    expect(ds.decodedImages).toBe(13);
    expect(Math.round(prefetched.images.dataSync()[0] * 255)).toBe(110);
    prefetched.images.dispose();
    expect(ds.cachedImages).toBe(4);
  });

  it('with check: none, lists files without reading them; a broken file then fails the batch that reads it, naming the file', async () => {
    const dir = join(root, 'folder-unchecked');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a.png'), await png(4, 4, [255, 255, 255]));
    writeFileSync(join(dir, 'b.png'), Buffer.from('not really a png'));
    const checked = (await registry.create('dataset', { name: 'image-folder', dir, size: 2 }, context())) as ImageFolderDataset;
    expect(checked.info.size).toBe(1);
    const ds = (await registry.create('dataset', { name: 'image-folder', dir, size: 2, check: 'none' }, context())) as ImageFolderDataset;
    expect(ds.info.size).toBe(2);
    expect(ds.files).toEqual(['a.png', 'b.png']);
    const err = (await ds.read([0, 1]).catch((e: unknown) => e)) as GenviewError;
    expect(err).toBeInstanceOf(GenviewError);
    expect(err.code).toBe('UNREADABLE_FILE');
    expect(err.message).toContain(join(dir, 'b.png'));
    expect(err.message).toMatch(/check: header/);
  });

  it('fails with EMPTY_DATASET and a fix for an empty folder, NOT_FOUND for a missing one', async () => {
    const dir = join(root, 'folder-empty');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'readme.txt'), 'no images');
    const err = (await registry.create('dataset', { name: 'image-folder', dir, size: 8 }, context()).catch((e: unknown) => e)) as GenviewError;
    expect(err.code).toBe('EMPTY_DATASET');
    expect(err.message).toMatch(/no readable images under .*readme\.txt.*Fix: put/);
    await expect(registry.create('dataset', { name: 'image-folder', dir: join(root, 'absent'), size: 8 }, context())).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});
