import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus, Registry, Rng, type TarEntry, writeTar } from '@genview/core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StreamingImageDataset, expandBraces, plugins } from '../src/index';
import { rejection } from '../../../tools/vitest/rejection';

const root = mkdtempSync(join(tmpdir(), 'genview-webdataset-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const registry = new Registry().register(plugins);
const context = () => ({ rng: new Rng(0), events: new EventBus(), path: 'data.train' });
const text = (s: string) => new TextEncoder().encode(s);

/** A solid grey image of level `v`, so every decoded row says which sample it came from. */
const grey = (v: number, format: 'png' | 'jpeg' = 'png') => sharp({ create: { width: 8, height: 6, channels: 3, background: { r: v, g: v, b: v } } })[format]().toBuffer();

function shard(name: string, entries: TarEntry[]): string {
  const path = join(root, name);
  writeFileSync(path, writeTar(entries));
  return path;
}

const create = (config: Record<string, unknown>) => registry.create('dataset', { name: 'webdataset', size: 4, ...config }, context()) as Promise<StreamingImageDataset>;

/** Reads rows back as their grey levels (0..255). */
async function levels(ds: StreamingImageDataset, rows: number[]): Promise<number[]> {
  const batch = await ds.read(rows);
  const px = batch.images.dataSync();
  const row = px.length / rows.length;
  batch.images.dispose();
  return rows.map((_, i) => Math.round(px[i * row] * 255));
}

beforeAll(async () => {
  // Three labelled, captioned shards of 4 samples: sample k of shard s is grey level 20 * (4 s + k).
  for (let s = 0; s < 3; s++) {
    const entries: TarEntry[] = [];
    for (let k = 0; k < 4; k++) {
      const id = 4 * s + k;
      const key = `s${s}/${String(id).padStart(4, '0')}`;
      // Mixed image formats and field orders, as real shard writers produce them.
      entries.push({ name: `${key}.cls`, data: text(`${id % 3}\n`) });
      entries.push({ name: `${key}.${k % 2 ? 'jpg' : 'png'}`, data: new Uint8Array(await grey(20 * id, k % 2 ? 'jpeg' : 'png')) });
      entries.push({ name: `${key}.txt`, data: text(`a grey square number ${id}`) });
    }
    shard(`train-${String(s).padStart(3, '0')}.tar`, entries);
  }
  // Image-text with .json fields (class names, captions).
  shard('pairs-a.tar', [
    { name: 'x1.png', data: new Uint8Array(await grey(0)) },
    { name: 'x1.json', data: text(JSON.stringify({ caption: 'a black square', label: 'dark', extra: 1 })) },
    { name: 'x2.jpeg', data: new Uint8Array(await grey(255, 'jpeg')) },
    { name: 'x2.json', data: text(JSON.stringify({ caption: 'a white square', label: 'light' })) },
  ]);
  shard('pairs-b.tar', [
    { name: 'y1.png', data: new Uint8Array(await grey(128)) },
    { name: 'y1.json', data: text(JSON.stringify({ caption: 'a grey square', label: 'dark' })) },
  ]);
});

describe('expandBraces', () => {
  it('expands zero-padded ranges, lists, several and nested groups, in order', () => {
    expect(expandBraces('shards-{000..003}.tar')).toEqual(['shards-000.tar', 'shards-001.tar', 'shards-002.tar', 'shards-003.tar']);
    expect(expandBraces('s{8..11}')).toEqual(['s8', 's9', 's10', 's11']);
    expect(expandBraces('{a,b}-{0..1}.tar')).toEqual(['a-0.tar', 'a-1.tar', 'b-0.tar', 'b-1.tar']);
    expect(expandBraces('{x,{y,z}1}')).toEqual(['x', 'y1', 'z1']);
    expect(expandBraces('{3..1}')).toEqual(['3', '2', '1']);
    expect(expandBraces('plain.tar')).toEqual(['plain.tar']);
    expect(() => expandBraces('a-{0..3.tar')).toThrow(/without its "}"/);
    expect(() => expandBraces('a-{only}.tar')).toThrow(/neither a range nor a list/);
  });
});

describe('webdataset', () => {
  it('reads labelled, captioned shards from a brace pattern: samples grouped by key, images decoded on demand', async () => {
    const ds = await create({ shards: join(root, 'train-{000..002}.tar'), cacheSize: 3 });
    expect(ds.info).toMatchObject({ size: 12, imageShape: [4, 4, 3] });
    expect(Array.from(ds.labels ?? [])).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
    expect(ds.captions?.[5]).toBe('a grey square number 5');
    expect(ds.decodedImages).toBe(0);
    // PNG rows are exact; JPEG rows (odd k) land within a level or two.
    const got = await levels(ds, [0, 5, 11, 8]);
    expect(got[0]).toBe(0);
    expect(got[3]).toBe(160);
    expect(Math.abs(got[1] - 100)).toBeLessThanOrEqual(2);
    expect(Math.abs(got[2] - 220)).toBeLessThanOrEqual(2);
    const batch = await ds.read([2, 7]);
    expect(batch.captions).toEqual(['a grey square number 2', 'a grey square number 7']);
    expect(Array.from(batch.labels ?? [])).toEqual([2, 1]);
    batch.images.dispose();
    expect(ds.decodedImages).toBe(6);
    expect(ds.cachedImages).toBe(3);
    ds.prefetch([9, 10]);
    await levels(ds, [9, 10]);
    expect(ds.decodedImages).toBe(8);
  });

  it('takes a list of paths and {a,b} patterns; .json gives captions and class names (image-text for CLIP)', async () => {
    const ds = await create({ shards: [join(root, 'pairs-{a,b}.tar')], channels: 1 });
    expect(ds.info).toMatchObject({ size: 3, imageShape: [4, 4, 1], classNames: ['dark', 'light'] });
    expect(ds.captions).toEqual(['a black square', 'a white square', 'a grey square']);
    expect(Array.from(ds.labels ?? [])).toEqual([0, 1, 0]);
    const got = await levels(ds, [0, 1, 2]);
    expect(got[0]).toBe(0);
    expect(got[1]).toBeGreaterThan(250);
    expect(got[2]).toBe(128);
    const bare = await create({ shards: [join(root, 'train-000.tar'), join(root, 'train-001.tar')], labels: 'none', captions: 'none', limit: 5 });
    expect(bare.info.size).toBe(5);
    expect(bare.labels).toBeUndefined();
    expect(bare.captions).toBeUndefined();
  });

  it('names the missing shard and the pattern it came from', async () => {
    const err = await rejection(create({ shards: join(root, 'train-{000..004}.tar') }));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toMatch(/2 shard\(s\) not found \(pattern .*train-\{000\.\.004\}\.tar gives 5 shard\(s\)\): .*train-003\.tar, .*train-004\.tar/);
  });

  it('names the shard, member and byte offset of a truncated shard', async () => {
    const path = join(root, 'cut.tar');
    const a = new Uint8Array(await grey(10));
    const b = new Uint8Array(await grey(20));
    const whole = writeTar([
      { name: 'a.png', data: a },
      { name: 'b.png', data: b },
    ]);
    const bHeader = 512 + Math.ceil(a.length / 512) * 512;
    // Cut inside b's data: the index names b, its header offset and where the file stops.
    writeFileSync(path, whole.subarray(0, bHeader + 512 + b.length - 5));
    const err = await rejection(create({ shards: path }));
    expect(err.code).toBe('UNREADABLE_FILE');
    expect(err.message).toContain(
      `cut.tar is not a complete tar archive: member b.png (header at byte ${bHeader}) needs ${b.length} bytes from byte ${bHeader + 512}, but the file ends at byte ${bHeader + 507 + b.length}`,
    );
    expect(err.message).toMatch(/recreate it, or drop it from data\.train\.shards/);
    // Cut inside b's header: named by the member before it.
    writeFileSync(path, whole.subarray(0, bHeader + 100));
    expect((await rejection(create({ shards: path }))).message).toMatch(/cut\.tar .*ends at byte \d+, after member a\.png, without the end-of-archive marker/);
  });

  it('rejects a sample without an image, a non-integer .cls, an unsupported extension, bad .json and partial labels', async () => {
    const png = new Uint8Array(await grey(0));
    const noImage = shard('no-image.tar', [
      { name: 'a.png', data: png },
      { name: 'b.cls', data: text('1') },
      { name: 'b.txt', data: text('lonely caption') },
    ]);
    expect((await rejection(create({ shards: noImage }))).message).toMatch(/no-image\.tar: sample b has no image \(members: b\.cls, b\.txt\)/);

    const badCls = shard('bad-cls.tar', [
      { name: 'a.png', data: png },
      { name: 'a.cls', data: text('cat') },
    ]);
    const cls = await rejection(create({ shards: badCls }));
    expect(cls.message).toMatch(/bad-cls\.tar: member a\.cls \(byte 1024\) holds "cat", not an integer class id/);

    const gif = shard('gif.tar', [
      { name: 'a.png', data: png },
      { name: 'b.gif', data: png },
    ]);
    const ext = await rejection(create({ shards: gif }));
    expect(ext.message).toMatch(/gif\.tar: member b\.gif \(byte 1024\) has the unsupported extension \.gif/);
    expect(ext.message).toMatch(/ignore: \[gif\]/);
    // Listed in ignore, the member is passed over.
    expect((await create({ shards: gif, ignore: ['gif'] })).info.size).toBe(1);

    const twoImages = shard('two.tar', [
      { name: 'a.png', data: png },
      { name: 'a.jpg', data: png },
    ]);
    expect((await rejection(create({ shards: twoImages }))).message).toMatch(/sample a has two images \(a\.png and a\.jpg\)/);

    const json = shard('json.tar', [
      { name: 'a.png', data: png },
      { name: 'a.json', data: text('{"caption": ') },
    ]);
    expect((await rejection(create({ shards: json }))).message).toMatch(/json\.tar: member a\.json .* is not JSON/);

    const partial = shard('partial.tar', [
      { name: 'a.png', data: png },
      { name: 'a.cls', data: text('0') },
      { name: 'b.png', data: png },
    ]);
    const missing = await rejection(create({ shards: partial }));
    expect(missing.message).toMatch(/sample .*partial\.tar: b\.png has no label .*labels: none/);
    expect((await create({ shards: partial, labels: 'none' })).info.size).toBe(2);
  });

  it('fails the batch that reads an undecodable image, naming shard, member and offset', async () => {
    const path = shard('garbage.tar', [
      { name: 'a.png', data: new Uint8Array(await grey(0)) },
      { name: 'b.png', data: text('not a png at all') },
    ]);
    const ds = await create({ shards: path });
    expect(await levels(ds, [0])).toEqual([0]);
    const err = await rejection(ds.read([1]));
    expect(err.code).toBe('UNREADABLE_FILE');
    expect(err.message).toMatch(/garbage\.tar: cannot decode member b\.png \(sample 1, 16 bytes at byte \d+\)/);
  });

  it('trains through the registry like any dataset: empty shards fail with EMPTY_DATASET', async () => {
    const empty = shard('empty.tar', []);
    expect((await rejection(create({ shards: empty }))).code).toBe('EMPTY_DATASET');
  });
});
