import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus, Registry, Rng } from '@genview/core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../src/manifest/csv';
import { type StreamingImageDataset, plugins } from '../src/index';
import { rejection } from '../../../tools/vitest/rejection';

const root = mkdtempSync(join(tmpdir(), 'genview-image-text-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const registry = new Registry().register(plugins);
const context = { rng: new Rng(0), events: new EventBus(), path: 'data.train' };
const COLORS: [string, [number, number, number]][] = [
  ['red', [255, 0, 0]],
  ['green', [0, 255, 0]],
  ['blue', [0, 0, 255]],
];

beforeAll(async () => {
  mkdirSync(join(root, 'img'));
  for (const [name, [r, g, b]] of COLORS) {
    await sharp({ create: { width: 12, height: 8, channels: 3, background: { r, g, b } } }).png().toFile(join(root, 'img', `${name}.png`));
  }
  writeFileSync(
    join(root, 'pairs.csv'),
    ['path,caption,kind', 'img/red.png,"a red square, bright",warm', 'img/green.png,"a ""green"" one",cold', '', 'img/blue.png,a blue\u00a0box,cold', ''].join('\r\n'),
  );
  writeFileSync(
    join(root, 'pairs.jsonl'),
    `${COLORS.map(([name]) => JSON.stringify({ image: `img/${name}.png`, text: `a ${name} photo` })).join('\n')}\n`,
  );
});

describe('parseCsv', () => {
  it('handles quotes, doubled quotes, commas and newlines inside quotes, CRLF and blank lines', () => {
    const parsed = parseCsv('a,b\r\n"x, y","say ""hi""\nthere"\n\nlast,\n');
    expect(parsed).toEqual({
      rows: [
        { line: 1, fields: ['a', 'b'] },
        { line: 2, fields: ['x, y', 'say "hi"\nthere'] },
        { line: 5, fields: ['last', ''] },
      ],
    });
    expect(parseCsv('a,b\n"open,2\n')).toEqual({ unterminatedQuoteAt: 2 });
  });
});

describe('image-text', () => {
  it('reads a CSV manifest: captions in index order, on every batch, labels from a column, pixels decoded', async () => {
    const data = await registry.create('dataset', { name: 'image-text', file: join(root, 'pairs.csv'), size: [4, 6], labelColumn: 'kind' }, context);
    expect(data.info).toMatchObject({ size: 3, imageShape: [4, 6, 3], classNames: ['cold', 'warm'] });
    expect(data.captions).toEqual(['a red square, bright', 'a "green" one', 'a blue\u00a0box']);
    expect(Array.from(data.labels ?? [])).toEqual([1, 0, 0]);
    const batch = await data.read([2, 0]);
    expect(batch.captions).toEqual(['a blue\u00a0box', 'a red square, bright']);
    expect(Array.from(batch.labels ?? [])).toEqual([0, 1]);
    const pixels = await batch.images.data();
    expect(Array.from(pixels.slice(0, 3))).toEqual([0, 0, 1]);
    expect(Array.from(pixels.slice(4 * 6 * 3, 4 * 6 * 3 + 3))).toEqual([1, 0, 0]);
    batch.images.dispose();
  });

  it('reads JSONL with other column names, a root and a limit, and caches decoded images within its bound', async () => {
    mkdirSync(join(root, 'manifests'), { recursive: true });
    writeFileSync(join(root, 'manifests', 'moved.jsonl'), `${JSON.stringify({ image: 'img/red.png', text: 'red' })}\n${JSON.stringify({ image: 'img/blue.png', text: 'blue' })}\n`);
    const config = { name: 'image-text', file: join(root, 'manifests', 'moved.jsonl'), root, pathColumn: 'image', captionColumn: 'text', size: 4, cacheSize: 1 };
    const data = (await registry.create('dataset', config, context)) as StreamingImageDataset;
    expect(data.captions).toEqual(['red', 'blue']);
    (await data.read([0, 1])).images.dispose();
    expect(data.decodedImages).toBe(2);
    expect(data.cachedImages).toBe(1);
    (await data.read([1])).images.dispose();
    expect(data.decodedImages).toBe(2);
    const limited = await registry.create('dataset', { ...config, file: join(root, 'pairs.jsonl'), root: undefined, limit: 2 }, context);
    expect(limited.info.size).toBe(2);
  });

  it('names the manifest line for a missing image, a missing column, an empty caption and bad JSON', async () => {
    const write = (name: string, text: string) => {
      writeFileSync(join(root, name), text);
      return join(root, name);
    };
    let e = await rejection(registry.create('dataset', { name: 'image-text', file: write('missing.csv', 'path,caption\nimg/red.png,ok\nimg/none.png,gone\n'), size: 4 }, context));
    expect(e.message).toContain('missing.csv:3 names img/none.png');
    expect(e.code).toBe('NOT_FOUND');
    e = await rejection(registry.create('dataset', { name: 'image-text', file: write('nocol.csv', 'file,caption\nimg/red.png,ok\n'), size: 4 }, context));
    expect(e.message).toMatch(/nocol\.csv:2 has no path field \(fields: file, caption\)/);
    expect(e.fix).toContain('pathColumn');
    e = await rejection(registry.create('dataset', { name: 'image-text', file: write('empty.csv', 'path,caption\nimg/red.png,  \n'), size: 4 }, context));
    expect(e.message).toContain('empty.csv:2 has an empty caption');
    e = await rejection(registry.create('dataset', { name: 'image-text', file: write('bad.jsonl', '{"path": "img/red.png", "caption": "x"}\n{oops\n'), size: 4 }, context));
    expect(e.message).toContain('bad.jsonl:2 is not valid JSON');
    e = await rejection(registry.create('dataset', { name: 'image-text', file: write('fields.csv', 'path,caption\nimg/red.png,a,b\n'), size: 4 }, context));
    expect(e.message).toContain('fields.csv:2 has 3 fields but the header has 2');
    e = await rejection(registry.create('dataset', { name: 'image-text', file: write('pairs.txt', 'x'), size: 4 }, context));
    expect(e.fix).toContain('format: csv | jsonl');
    e = await rejection(registry.create('dataset', { name: 'image-text', file: join(root, 'absent.csv'), size: 4 }, context));
    expect(e.message).toContain('absent.csv does not exist');
  });

  it('fails a read with the file named when an image exists but is not decodable', async () => {
    writeFileSync(join(root, 'img', 'broken.png'), Buffer.from('not a png at all'));
    const file = join(root, 'broken.csv');
    writeFileSync(file, 'path,caption\nimg/red.png,fine\nimg/broken.png,broken\n');
    const data = await registry.create('dataset', { name: 'image-text', file, size: 4 }, context);
    (await data.read([0])).images.dispose();
    const e = await rejection(data.read([0, 1]));
    expect(e.message).toContain(join(root, 'img', 'broken.png'));
    expect(e.code).toBe('UNREADABLE_FILE');
  });
});
