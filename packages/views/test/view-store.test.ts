import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventBus, type GenerationParams, type Generator, GenviewError, Registry, Rng, type Tensor3D, temporaryPathFor, tf } from '@genview/core';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStoreBackend } from '../src/store/backend';
import { type StoreMetaInput, configHash, stableStringify } from '../src/store/layout';
import { readTar, writeTar } from '@genview/core';
import { ViewStore, type ViewToStore } from '../src/store/view-store';
import { viewStorePlugin } from '../src/store/view-store-plugin';

let root: string;
let counter = 0;
const fresh = (label: string) => {
  const dir = join(root, `${label}-${counter++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'genview-view-store-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Self-contained on purpose: its source text is also pasted into the child-process writers, so that
 * every writer produces the same views from (index, k).
 */
function synthView(index: number, k: number, shape: number[], variant: number): { index: number; k: number; pixels: Uint8Array; params: GenerationParams } {
  const n = shape[0] * shape[1] * shape[2];
  const pixels = new Uint8Array(n);
  for (let j = 0; j < n; j++) pixels[j] = (index * 37 + k * 101 + j * 13 + ((j * j) % 7) + variant * 59) & 255;
  return { index, k, pixels, params: { source: 'image', seed: index * 1000 + k, noiseLevel: 100 * k, guidanceScale: 7.5 } };
}

const META: StoreMetaInput = {
  dataset: 'synthetic',
  count: 10,
  viewsPerImage: 3,
  shardSize: 4,
  imageShape: [5, 4, 3],
  generator: { name: 'synthetic', configHash: configHash({ variant: 0 }) },
  user: { note: 'test store' },
};

function shardViews(store: ViewStore, shard: number, variant = 0): ViewToStore[] {
  const { start, end } = store.shardRange(shard);
  const views: ViewToStore[] = [];
  for (let i = start; i < end; i++) for (let k = 0; k < store.meta.viewsPerImage; k++) views.push(synthView(i, k, store.meta.imageShape, variant));
  return views;
}

async function writeAll(store: ViewStore, variant = 0): Promise<void> {
  for (const shard of store.pendingShards()) await store.writeShard(shard, shardViews(store, shard, variant));
}

/** Every file under dir (hidden ones included), by relative path. */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path));
    }
  };
  walk(dir);
  return out;
}

function expectSameFiles(a: string, b: string): void {
  const sa = snapshot(a);
  const sb = snapshot(b);
  expect([...sb.keys()].sort()).toEqual([...sa.keys()].sort());
  for (const [path, bytes] of sa) expect(sb.get(path)?.equals(bytes), path).toBe(true);
}

async function rejection(promise: Promise<unknown>): Promise<GenviewError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GenviewError);
    return error as GenviewError;
  }
  throw new Error('expected a rejection');
}

function thrown(fn: () => unknown): GenviewError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GenviewError);
    return error as GenviewError;
  }
  throw new Error('expected an error');
}

let reference: string;
beforeAll(async () => {
  reference = fresh('reference');
  await writeAll(await ViewStore.openOrCreate(reference, META));
});

describe('tar', () => {
  const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);
  const entries = [
    { name: 'a', data: bytesOf(0, 1) },
    { name: 'b'.repeat(99), data: bytesOf(1, 2) },
    { name: 'c'.repeat(100), data: bytesOf(511, 3) },
    { name: 'dir/d.bin', data: bytesOf(512, 4) },
    { name: 'é.json', data: bytesOf(513, 5) },
    { name: 'f', data: bytesOf(1024, 6) },
  ];

  it('writes 512-byte headers, pads data to blocks and ends with two zero blocks', () => {
    const tar = writeTar(entries);
    const padded = (n: number) => Math.ceil(n / 512) * 512;
    expect(tar.length).toBe(entries.reduce((sum, e) => sum + 512 + padded(e.data.length), 1024));
    expect(tar.subarray(tar.length - 1024).every((b) => b === 0)).toBe(true);
    // The header of 'dir/d.bin' (after 'a', 'bbb..' + 1 data block, 'ccc..' + 1 data block).
    const h = tar.subarray(512 * 5, 512 * 6);
    const text = (from: number, to: number) => Buffer.from(h.subarray(from, to)).toString('latin1');
    expect(text(0, 9)).toBe('dir/d.bin');
    expect(text(124, 136)).toBe('00000001000\0');
    expect(text(257, 265)).toBe('ustar\x0000');
    expect(text(148, 156)).toMatch(/^[0-7]{6}\0 $/);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    expect(Number.parseInt(text(148, 154), 8)).toBe(sum);
  });

  it('reads back every name and byte, at and around block boundaries', () => {
    const back = readTar(writeTar(entries), { where: 'mem.tar' });
    expect(back.map((e) => e.name)).toEqual(entries.map((e) => e.name));
    for (const [i, e] of back.entries()) expect(Buffer.from(e.data).equals(Buffer.from(entries[i].data))).toBe(true);
    expect(readTar(writeTar([]), { where: 'empty.tar' })).toEqual([]);
  });

  it('agrees with the system tar both ways', () => {
    if (spawnSync('tar', ['--version']).status !== 0) return;
    const dir = fresh('system-tar');
    const ours = join(dir, 'ours.tar');
    writeFileSync(ours, writeTar(entries));
    const listed = spawnSync('tar', ['-tf', ours], { encoding: 'utf8' });
    expect(listed.status).toBe(0);
    expect(listed.stdout.trim().split('\n')).toEqual(entries.map((e) => e.name));
    const extracted = spawnSync('tar', ['-xOf', ours, 'dir/d.bin']);
    expect(Buffer.from(extracted.stdout).equals(Buffer.from(entries[3].data))).toBe(true);

    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'x.png'), bytesOf(700, 9));
    writeFileSync(join(dir, 'src', 'y'), bytesOf(512, 8));
    const theirs = join(dir, 'theirs.tar');
    expect(spawnSync('tar', ['--format=ustar', '-cf', theirs, '-C', join(dir, 'src'), 'x.png', 'y']).status).toBe(0);
    const back = readTar(new Uint8Array(readFileSync(theirs)), { where: theirs });
    expect(back.map((e) => [e.name, e.data.length])).toEqual([
      ['x.png', 700],
      ['y', 512],
    ]);
    expect(Buffer.from(back[0].data).equals(Buffer.from(bytesOf(700, 9)))).toBe(true);
  });

  it('refuses names over 100 bytes and duplicates', () => {
    expect(thrown(() => writeTar([{ name: 'x'.repeat(101), data: new Uint8Array(1) }])).message).toMatch(/1 to 100 bytes.*101/);
    expect(thrown(() => writeTar([{ name: 'é'.repeat(51), data: new Uint8Array(1) }])).message).toMatch(/102 bytes/);
    expect(thrown(() => writeTar([{ name: 'a', data: new Uint8Array(1) }, { name: 'a', data: new Uint8Array(2) }])).message).toMatch(/twice/);
  });

  it('names the file and the problem for corrupt or truncated archives', () => {
    const tar = writeTar(entries);
    const corrupt = tar.slice();
    corrupt[512 * 5 + 3] ^= 0x40; // a name byte of the fourth header
    const bad = thrown(() => readTar(corrupt, { where: '/data/shard-000007.tar' }));
    expect(bad.code).toBe('UNREADABLE_FILE');
    expect(bad.message).toContain('/data/shard-000007.tar');
    expect(bad.message).toMatch(/checksum mismatch at byte 2560 \(entry 4\)/);

    expect(thrown(() => readTar(tar.subarray(0, 512 * 6 + 100), { where: 'cut.tar' })).message).toMatch(/cut\.tar.*truncated inside entry dir\/d\.bin/);
    expect(thrown(() => readTar(tar.subarray(0, tar.length - 1024), { where: 'noend.tar' })).message).toMatch(/noend\.tar.*truncated after 6 entries/);
    expect(thrown(() => readTar(tar.subarray(0, tar.length - 512), { where: 'half.tar' })).message).toMatch(/end-of-archive marker/);
    expect(thrown(() => readTar(new Uint8Array(700).fill(65), { where: 'junk.tar' })).message).toMatch(/junk\.tar.*checksum/);
  });
});

describe('ViewStore', () => {
  it('stores K views per image in WebDataset-style shards and reads them back bit-exact', async () => {
    const store = await ViewStore.open(reference);
    expect(store.shardCount).toBe(3);
    expect(store.shardRange(2)).toEqual({ start: 8, end: 10 });
    expect(store.isComplete()).toBe(true);
    expect(store.pendingShards()).toEqual([]);
    for (let i = 0; i < 10; i++) {
      for (let k = 0; k < 3; k++) {
        const view = await store.readView(i, k);
        const expected = synthView(i, k, [5, 4, 3], 0);
        expect(view.shape).toEqual([5, 4, 3]);
        expect(Buffer.from(view.pixels).equals(Buffer.from(expected.pixels))).toBe(true);
        expect(view.params).toEqual(expected.params);
      }
    }

    const shard2 = new Uint8Array(readFileSync(join(reference, 'shards', 'shard-000002.tar')));
    const members = readTar(shard2, { where: 'shard 2' });
    expect(members.map((m) => m.name)).toEqual(['000008.k0.png', '000008.k0.json', '000008.k1.png', '000008.k1.json', '000008.k2.png', '000008.k2.json', '000009.k0.png', '000009.k0.json', '000009.k1.png', '000009.k1.json', '000009.k2.png', '000009.k2.json']);
    expect(Buffer.from(members[0].data.subarray(1, 4)).toString('latin1')).toBe('PNG');
    expect(JSON.parse(Buffer.from(members[3].data).toString('utf8'))).toEqual({ index: 8, k: 1, seed: 8001, params: synthView(8, 1, [5, 4, 3], 0).params });

    const index = JSON.parse(readFileSync(join(reference, 'index.json'), 'utf8'));
    expect(index.shards.map((s: { shard: number; entries: number; start: number; end: number }) => [s.shard, s.start, s.end, s.entries])).toEqual([
      [0, 0, 4, 24],
      [1, 4, 8, 24],
      [2, 8, 10, 12],
    ]);
    expect(index.shards[2].sha256).toBe(sha(shard2));
    expect(index.shards[2].bytes).toBe(shard2.length);
    const meta = JSON.parse(readFileSync(join(reference, 'store.json'), 'utf8'));
    expect(meta).toEqual({ ...META, version: 1 });
    expect(await store.verify()).toEqual({ ok: true, checked: 3, totalShards: 3, problems: [], indexStale: false, repaired: [] });
  });

  it('keeps single-channel views single-channel', async () => {
    const dir = fresh('grey');
    const store = await ViewStore.create(dir, { ...META, count: 3, shardSize: 3, viewsPerImage: 2, imageShape: [6, 7, 1] });
    await writeAll(store);
    const png = readTar(new Uint8Array(readFileSync(join(dir, 'shards', 'shard-000000.tar'))), { where: 'grey' })[0].data;
    expect(png[25]).toBe(0); // IHDR colour type 0: greyscale
    const view = await (await ViewStore.open(dir)).readView(2, 1);
    expect(view.shape).toEqual([6, 7, 1]);
    expect(Buffer.from(view.pixels).equals(Buffer.from(synthView(2, 1, [6, 7, 1], 0).pixels))).toBe(true);
  });

  it('resumes: reopened stores know which shards are done, and a missing one names itself', async () => {
    const dir = fresh('resume');
    const first = await ViewStore.openOrCreate(dir, META);
    expect(first.pendingShards()).toEqual([0, 1, 2]);
    await first.writeShard(2, shardViews(first, 2));
    await first.writeShard(0, shardViews(first, 0));

    const again = await ViewStore.openOrCreate(dir, META);
    expect(again.pendingShards()).toEqual([1]);
    expect(again.completedShards()).toEqual([0, 2]);
    expect(again.isComplete()).toBe(false);
    expect((await again.readView(9, 2)).params.seed).toBe(9002);
    const missing = await rejection(again.readView(5, 0));
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.message).toContain('no shard 1 (images 4..7, needed for image 5)');
    expect(missing.message).toContain('2 of 3 shards are complete');
    expect(missing.message).toContain('genview generate');
    expect(missing.message).toContain('shard-000001.tar');

    // A reader opened earlier sees the shard once another store instance completes it.
    await (await ViewStore.openOrCreate(dir, META)).writeShard(1, shardViews(again, 1));
    expect((await again.readView(5, 0)).params.seed).toBe(5000);
    expect(again.isComplete()).toBe(true);
    expectSameFiles(reference, dir);
  });

  it('after a killed writer (temporaries, a truncated unmarked shard, a stale index) resumes to the same bytes', async () => {
    const dir = fresh('killed');
    const store = await ViewStore.openOrCreate(dir, META);
    await store.writeShard(0, shardViews(store, 0));
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid as number;
    const hourAgo = new Date(Date.now() - 3600_000);
    const leftovers = [join(dir, 'shards', `.shard-000001.tar.${deadPid}.1700000000000.0.tmp`), join(dir, 'done', `.shard-000001.json.${deadPid}.1700000000000.1.tmp`)];
    writeFileSync(leftovers[0], readFileSync(join(reference, 'shards', 'shard-000001.tar')).subarray(0, 3000));
    writeFileSync(leftovers[1], '{"shard":1,');
    for (const path of leftovers) utimesSync(path, hourAgo, hourAgo);
    // A shard cut off mid-write by something that did not write atomically, and an index from before shard 0.
    writeFileSync(join(dir, 'shards', 'shard-000002.tar'), readFileSync(join(reference, 'shards', 'shard-000002.tar')).subarray(0, 700));
    writeFileSync(join(dir, 'index.json'), '{"shards":[],"version":1}\n');

    const resumed = await ViewStore.openOrCreate(dir, META);
    for (const path of leftovers) expect(existsSync(path)).toBe(false);
    expect(resumed.pendingShards()).toEqual([1, 2]);
    expect(JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')).shards.map((s: { shard: number }) => s.shard)).toEqual([0]);
    expect((await rejection(resumed.readView(8, 0))).code).toBe('NOT_FOUND');
    await writeAll(resumed);
    expectSameFiles(reference, dir);
  });

  it('rebuilds a garbage index.json from the markers, with a warning that says so', async () => {
    const dir = fresh('garbage-index');
    await writeAll(await ViewStore.openOrCreate(dir, META));
    const good = readFileSync(join(dir, 'index.json'));
    const warnings = (events: EventBus) => {
      const out: string[] = [];
      events.on('log', ({ level, message }) => {
        if (level === 'warn') out.push(message);
      });
      return out;
    };
    for (const garbage of ['{"shards": [tru', '{"version":1,"shards":[{"shard":"zero"}]}\n', '\u0000\u0001 not json']) {
      writeFileSync(join(dir, 'index.json'), garbage);
      // A reader uses the markers and says the index will be rebuilt by the next writer.
      const readerEvents = new EventBus();
      const readerWarnings = warnings(readerEvents);
      const reader = await ViewStore.open(dir, { events: readerEvents });
      expect((await reader.readView(9, 2)).params.seed).toBe(9002);
      expect(readerWarnings).toHaveLength(1);
      expect(readerWarnings[0]).toContain(`${join(dir, 'index.json')} is damaged`);
      expect(readerWarnings[0]).toContain('rebuilt by the next `genview generate`');
      // A writer rebuilds it at once, byte for byte what the markers give, and says so once.
      const writerEvents = new EventBus();
      const writerWarnings = warnings(writerEvents);
      const writer = await ViewStore.openOrCreate(dir, META, { events: writerEvents });
      expect(writer.isComplete()).toBe(true);
      expect(writerWarnings).toHaveLength(1);
      expect(writerWarnings[0]).toMatch(/index\.json is damaged \(it is not (JSON|a store index)/);
      expect(writerWarnings[0]).toContain('rebuilds it from them');
      expect(readFileSync(join(dir, 'index.json')).equals(good)).toBe(true);
    }
    // A sound index gives no warning.
    const quiet = new EventBus();
    const none = warnings(quiet);
    await ViewStore.openOrCreate(dir, META, { events: quiet });
    expect(none).toEqual([]);
  });

  it('removes only temporaries of dead writers older than the grace period', async () => {
    const dir = fresh('temps');
    await ViewStore.create(dir, META);
    mkdirSync(join(dir, 'shards'), { recursive: true });
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid as number;
    const old = new Date(Date.now() - 3600_000);
    const deadOld = join(dir, 'shards', `.shard-000000.tar.${deadPid}.1.0.tmp`);
    const deadYoung = join(dir, 'shards', `.shard-000001.tar.${deadPid}.2.0.tmp`);
    const aliveOld = join(dir, 'shards', `.shard-000002.tar.${process.pid}.3.0.tmp`);
    const unrelated = join(dir, 'shards', '.keep');
    for (const path of [deadOld, deadYoung, aliveOld, unrelated]) writeFileSync(path, 'x');
    for (const path of [deadOld, aliveOld]) utimesSync(path, old, old);
    const store = await ViewStore.open(dir);
    expect(await store.cleanup()).toEqual([`shards/.shard-000000.tar.${deadPid}.1.0.tmp`]);
    expect([deadYoung, aliveOld, unrelated].every((p) => existsSync(p))).toBe(true);
    expect(await (await ViewStore.open(dir, { tempGraceMs: 0 })).cleanup()).toEqual([`shards/.shard-000001.tar.${deadPid}.2.0.tmp`]);
    // A temporary tagged with this host is stale as soon as its writer is gone; another host's waits for the grace period.
    const ours = temporaryPathFor(join(dir, 'shards', 'shard-000003.tar')).replace(`.${process.pid}.`, `.${deadPid}.`);
    const theirs = ours.replace(/\.h[0-9a-f]{8}\./, '.h00000000.');
    for (const path of [ours, theirs]) writeFileSync(path, 'x');
    expect(await store.cleanup()).toEqual([`shards/${basename(ours)}`]);
    expect(existsSync(theirs)).toBe(true);
  });

  it('two writers of the same shard in one process leave it exactly once and identical', async () => {
    const dir = fresh('same-shard');
    const [a, b] = await Promise.all([ViewStore.openOrCreate(dir, META), ViewStore.openOrCreate(dir, META)]);
    const results = await Promise.all([a.writeShard(1, shardViews(a, 1)), b.writeShard(1, shardViews(b, 1)), a.writeShard(0, shardViews(a, 0)), b.writeShard(2, shardViews(b, 2))]);
    expect(results.every((r) => r.identical)).toBe(true);
    expect(results.map((r) => r.outcome).every((o) => o === 'written' || o === 'already-complete')).toBe(true);
    // The duplicate is a no-op afterwards.
    expect((await a.writeShard(1, shardViews(a, 1))).outcome).toBe('already-complete');
    expectSameFiles(reference, dir);
    expect((await ViewStore.open(dir).then((s) => s.verify())).ok).toBe(true);
  });

  it('concurrent writers with different bytes for one shard leave a marker that matches the tar', async () => {
    const candidates = await Promise.all(
      [0, 1].map(async (variant) => {
        const dir = fresh(`variant-${variant}`);
        const s = await ViewStore.create(dir, META);
        await s.writeShard(1, shardViews(s, 1, variant));
        return sha(readFileSync(join(dir, 'shards', 'shard-000001.tar')));
      }),
    );
    const dir = fresh('conflict');
    const [a, b] = await Promise.all([ViewStore.openOrCreate(dir, META), ViewStore.openOrCreate(dir, META)]);
    const results = await Promise.all([a.writeShard(1, shardViews(a, 1, 0)), b.writeShard(1, shardViews(b, 1, 1))]);
    const onDisk = sha(readFileSync(join(dir, 'shards', 'shard-000001.tar')));
    expect(candidates).toContain(onDisk);
    expect(JSON.parse(readFileSync(join(dir, 'done', 'shard-000001.json'), 'utf8')).sha256).toBe(onDisk);
    for (const r of results) expect(r.identical).toBe(r.marker.sha256 === candidates[results.indexOf(r)]);
    expect(results.some((r) => r.identical)).toBe(true);
    const report = await (await ViewStore.open(dir)).verify();
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('two child processes writing every shard in opposite orders leave a valid store with each view once', async () => {
    const dir = fresh('processes');
    const bundle = await childWriter();
    const run = (order: string) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn(process.execPath, [bundle, dir, order], { env: { ...process.env, VIEW_STORE_META: JSON.stringify(META) } });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => {
          out += d;
        });
        child.stderr.on('data', (d) => {
          err += d;
        });
        child.on('close', (code) => resolve({ code, out, err }));
      });
    const results = await Promise.all([run('forward'), run('backward'), run('forward')]);
    for (const r of results) expect(r.code, r.err).toBe(0);
    const outcomes = results.flatMap((r) => JSON.parse(r.out) as { identical: boolean }[]);
    expect(outcomes).toHaveLength(9);
    expect(outcomes.every((o) => o.identical)).toBe(true);
    expectSameFiles(reference, dir);
    const store = await ViewStore.open(dir);
    expect((await store.verify()).ok).toBe(true);
    const names = readTar(new Uint8Array(readFileSync(join(dir, 'shards', 'shard-000001.tar'))), { where: 'shard 1' }).map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toHaveLength(4 * 3 * 2);
  }, 120_000);

  it('refuses to resume a store made differently, naming the field, both values and the fix', async () => {
    const dir = fresh('mismatch');
    await ViewStore.openOrCreate(dir, META);
    const k = await rejection(ViewStore.openOrCreate(dir, { ...META, viewsPerImage: 4 }));
    expect(k.code).toBe('INVALID_CONFIG');
    expect(k.message).toContain('made with viewsPerImage = 3, but this run asks for viewsPerImage = 4');
    expect(k.message).toContain(join(dir, 'store.json'));
    expect(k.message).toContain('new directory');
    expect(k.message).toContain('--overwrite');

    const several = await rejection(ViewStore.openOrCreate(dir, { ...META, imageShape: [8, 8, 3], generator: { name: 'synthetic', configHash: configHash({ variant: 1 }) } }));
    expect(several.message).toContain('imageShape = [5,4,3], generator.configHash = ');
    expect(several.message).toContain('asks for imageShape = [8,8,3]');
    expect((await rejection(ViewStore.openOrCreate(dir, { ...META, count: 11 }))).message).toContain('count = 10, but this run asks for count = 11');

    // Free-form user meta is not part of what a store holds.
    await expect(ViewStore.openOrCreate(dir, { ...META, user: { note: 'another run' } })).resolves.toBeInstanceOf(ViewStore);
    expect((await rejection(ViewStore.create(dir, META))).message).toContain('already exists');
    expect((await rejection(ViewStore.open(fresh('empty')))).code).toBe('NOT_FOUND');
    expect((await rejection(ViewStore.create(fresh('bad-meta'), { ...META, imageShape: [5, 4, 2] }))).message).toContain('imageShape');

    const replaced = await ViewStore.openOrCreate(dir, { ...META, viewsPerImage: 4 }, { overwrite: true });
    expect(replaced.meta.viewsPerImage).toBe(4);
    expect(replaced.pendingShards()).toEqual([0, 1, 2]);
  });

  it('validates that a shard gets exactly K views of each of its images', async () => {
    const store = await ViewStore.create(fresh('validate'), META);
    const views = shardViews(store, 0);
    const missing = await rejection(store.writeShard(0, views.filter((v) => !(v.index === 2 && v.k === 1))));
    expect(missing.code).toBe('BAD_INPUT');
    expect(missing.message).toContain('1 are missing: (2, k1)');
    expect((await rejection(store.writeShard(0, [...views, views[4]]))).message).toContain('view 1 of image 1 is given twice');
    expect((await rejection(store.writeShard(0, [...views.slice(1), synthView(4, 0, [5, 4, 3], 0)]))).message).toContain('image 4 does not belong to shard 0 (images 0..3)');
    expect((await rejection(store.writeShard(0, views.map((v, i) => (i === 0 ? { ...v, pixels: new Uint8Array(10) } : v))))).message).toContain('5x4x3 = 60 bytes');
    expect((await rejection(store.writeShard(3, []))).message).toContain('shards 0..2');
    expect(store.pendingShards()).toEqual([0, 1, 2]);
  });

  it('verify finds a damaged shard, reads refuse it, and repair makes it pending again', async () => {
    const dir = fresh('damaged');
    const store = await ViewStore.openOrCreate(dir, META);
    await writeAll(store);
    const path = join(dir, 'shards', 'shard-000001.tar');
    const bytes = readFileSync(path);
    bytes[bytes.length - 2000] ^= 1;
    writeFileSync(path, bytes);

    const reader = await ViewStore.open(dir);
    const refused = await rejection(reader.readView(4, 0));
    expect(refused.message).toContain('shard-000001.tar');
    expect(refused.message).toMatch(/sha256 .* differs from its completion marker/);
    const report = await reader.verify();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.shard)).toEqual([1]);
    expect((await reader.verify({ repair: true })).repaired).toEqual([1]);
    const resumed = await ViewStore.openOrCreate(dir, META);
    expect(resumed.pendingShards()).toEqual([1]);
    await writeAll(resumed);
    expectSameFiles(reference, dir);
  });

  it('works through the StoreBackend interface alone', async () => {
    const dir = fresh('backend');
    const local = new LocalStoreBackend(dir);
    const calls = new Set<string>();
    const traced = Object.fromEntries(
      (['describe', 'read', 'writeAtomic', 'writeIfAbsent', 'list', 'exists', 'remove', 'removeStaleTemporaries'] as const).map((name) => [
        name,
        (...args: unknown[]) => {
          calls.add(name);
          return (local[name] as (...a: unknown[]) => unknown).apply(local, args);
        },
      ]),
    );
    const backend = { location: `traced:${dir}`, ...traced } as unknown as LocalStoreBackend;
    const store = await ViewStore.openOrCreate(backend, META);
    await writeAll(store);
    expect(store.location).toBe(`traced:${dir}`);
    expect([...calls]).toEqual(expect.arrayContaining(['read', 'writeAtomic', 'writeIfAbsent', 'list', 'removeStaleTemporaries']));
    expectSameFiles(reference, dir);
  });
});

describe('view-store generator plugin', () => {
  const registry = new Registry().register([viewStorePlugin]);
  const context = () => ({ rng: new Rng(0), events: new EventBus(), path: 'generator' });
  const request = (index: number, seed: number, image?: Tensor3D) => ({ source: 'image' as const, seed, index, image });

  it('serves view (seed mod K) of each index as [H, W, C] in [0, 1], with its stored params', async () => {
    const generator = (await registry.create('generator', { name: 'view-store', dir: reference }, context())) as Generator;
    const before = tf.memory().numTensors;
    const views = await generator.generate([request(5, 7), request(0, 3), request(9, -1), request(9, 2)]);
    expect(tf.memory().numTensors).toBe(before + 4);
    const expectedK = [1, 0, 2, 2];
    const indices = [5, 0, 9, 9];
    views.forEach((view, i) => {
      const expected = synthView(indices[i], expectedK[i], [5, 4, 3], 0);
      expect(view.image.shape).toEqual([5, 4, 3]);
      expect(view.image.dtype).toBe('float32');
      expect(Array.from(view.image.dataSync())).toEqual(Array.from(expected.pixels, (p) => Math.fround(p / 255)));
      expect(view.params).toEqual(expected.params);
      expect(view.index).toBe(indices[i]);
    });
    tf.dispose(views.map((v) => v.image));
    expect(tf.memory().numTensors).toBe(before);
    await generator.dispose?.();
  });

  it('says which shard is missing and how to complete the store, without leaking tensors', async () => {
    const dir = fresh('plugin-partial');
    const store = await ViewStore.openOrCreate(dir, META);
    await store.writeShard(0, shardViews(store, 0));
    const generator = (await registry.create('generator', { name: 'view-store', dir }, context())) as Generator;
    const before = tf.memory().numTensors;
    const error = await rejection(generator.generate([request(1, 0), request(6, 4)]));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain('no shard 1 (images 4..7, needed for image 6)');
    expect(error.message).toContain('run `genview generate` to complete the store');
    expect(tf.memory().numTensors).toBe(before);
    expect((await rejection(generator.generate([{ source: 'image', seed: 1 }]))).message).toContain('no dataset index');
    expect((await rejection(registry.create('generator', { name: 'view-store', dir: fresh('nothing') }, context()))).message).toContain('genview generate');
  });

  it('with mix < 1 answers the seeds it draws as real with the request image, the same way every time', async () => {
    const generator = (await registry.create('generator', { name: 'view-store', dir: reference, mix: 0.5 }, context())) as Generator;
    const image = tf.fill([5, 4, 3], 0.25) as Tensor3D;
    const requests = Array.from({ length: 40 }, (_, seed) => request(seed % 10, seed, image));
    const first = await generator.generate(requests);
    const second = await generator.generate(requests);
    const isReal = (v: { image: Tensor3D }) => v.image.dataSync().every((x) => x === 0.25);
    const pattern = first.map(isReal);
    expect(second.map(isReal)).toEqual(pattern);
    expect(pattern.filter(Boolean).length).toBeGreaterThan(8);
    expect(pattern.filter((r) => !r).length).toBeGreaterThan(8);
    tf.dispose([image, ...first.map((v) => v.image), ...second.map((v) => v.image)]);

    const wrong = tf.zeros([4, 4, 3]) as Tensor3D;
    expect((await rejection(generator.generate([request(0, 0, wrong)]))).message).toContain('[4, 4, 3], the store holds [5, 4, 3]');
    wrong.dispose();
  });
});

/**
 * Bundles a writer for child processes from the store's sources (node cannot run TypeScript), next
 * to a link to the workspace's node_modules so that the native sharp it leaves external resolves.
 */
async function childWriter(): Promise<string> {
  const dir = fresh('child');
  symlinkSync(fileURLToPath(new URL('../../../node_modules', import.meta.url)), join(dir, 'node_modules'), 'dir');
  const storeSource = fileURLToPath(new URL('../src/store/view-store.ts', import.meta.url));
  const entry = join(dir, 'writer.ts');
  writeFileSync(
    entry,
    `import { ViewStore } from ${JSON.stringify(storeSource)};
${synthView.toString()}
const [dir, order] = process.argv.slice(2);
const store = await ViewStore.openOrCreate(dir, JSON.parse(process.env.VIEW_STORE_META));
const shards = Array.from({ length: store.shardCount }, (_, s) => s);
if (order === 'backward') shards.reverse();
const results = [];
for (const shard of shards) {
  const { start, end } = store.shardRange(shard);
  const views = [];
  for (let i = start; i < end; i++) for (let k = 0; k < store.meta.viewsPerImage; k++) views.push(synthView(i, k, store.meta.imageShape, 0));
  const result = await store.writeShard(shard, views);
  results.push({ shard, outcome: result.outcome, identical: result.identical });
}
process.stdout.write(JSON.stringify(results));
`,
  );
  const outfile = join(dir, 'writer.mjs');
  await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile,
    external: ['sharp'],
    tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)),
    // CommonJS dependencies inside an ESM bundle still call require().
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  expect(statSync(outfile).size).toBeGreaterThan(0);
  return outfile;
}

// Keeps the helper honest: pasted into children, it must not depend on anything in this module.
it('synthView is self-contained', () => {
  expect(synthView.toString()).not.toMatch(/\b(META|store|sha)\b/);
  expect(stableStringify(synthView(1, 2, [1, 1, 1], 0).params)).toBe('{"guidanceScale":7.5,"noiseLevel":200,"seed":1002,"source":"image"}');
});
