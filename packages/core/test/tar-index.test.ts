import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { indexTarFile, writeTar } from '../src/index';
import { rejection } from '../../../tools/vitest/rejection';

const root = mkdtempSync(join(tmpdir(), 'genview-tar-index-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) % 251);
const entries = [
  { name: 'a.txt', data: bytesOf(3, 1) },
  { name: 'b.bin', data: bytesOf(512, 2) },
  { name: 'c.bin', data: bytesOf(0, 3) },
  { name: 'dir/d.bin', data: bytesOf(1025, 4) },
];

describe('indexTarFile', () => {
  it('lists every member with the offset and size of its data, which read back the bytes', async () => {
    const path = join(root, 'ours.tar');
    const tar = writeTar(entries);
    writeFileSync(path, tar);
    const members = await indexTarFile(path);
    expect(members.map((m) => [m.name, m.size, m.headerOffset])).toEqual([
      ['a.txt', 3, 0],
      ['b.bin', 512, 1024],
      ['c.bin', 0, 2048],
      ['dir/d.bin', 1025, 2560],
    ]);
    for (const [i, m] of members.entries()) expect(Buffer.from(tar.subarray(m.offset, m.offset + m.size)).equals(Buffer.from(entries[i].data))).toBe(true);
    writeFileSync(join(root, 'empty.tar'), writeTar([]));
    expect(await indexTarFile(join(root, 'empty.tar'))).toEqual([]);
  });

  it("reads the system tar's GNU and pax archives (long names, directories)", async () => {
    if (spawnSync('tar', ['--version']).status !== 0) return;
    const src = join(root, 'src');
    const long = `${'k'.repeat(120)}.png`;
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, long), bytesOf(700, 5));
    writeFileSync(join(src, 'sub', 'x.cls'), '3');
    for (const format of ['gnu', 'pax']) {
      const path = join(root, `${format}.tar`);
      expect(spawnSync('tar', [`--format=${format}`, '-cf', path, '-C', src, long, 'sub']).status).toBe(0);
      const members = await indexTarFile(path);
      expect(members.map((m) => [m.name, m.size])).toEqual([
        [long, 700],
        ['sub/x.cls', 1],
      ]);
      const bytes = readFileSync(path);
      expect(bytes.subarray(members[1].offset, members[1].offset + 1).toString()).toBe('3');
    }
  });

  it('names the shard, member and byte offset when an archive is cut short or damaged', async () => {
    const tar = writeTar(entries);
    const cut = join(root, 'cut.tar');
    writeFileSync(cut, tar.subarray(0, 2560 + 512 + 100));
    const inside = await rejection(indexTarFile(cut));
    expect(inside.code).toBe('UNREADABLE_FILE');
    expect(inside.message).toMatch(/cut\.tar is not a complete tar archive: member dir\/d\.bin \(header at byte 2560\) needs 1025 bytes from byte 3072, but the file ends at byte 3172/);

    const noEnd = join(root, 'noend.tar');
    writeFileSync(noEnd, tar.subarray(0, tar.length - 1024));
    expect((await rejection(indexTarFile(noEnd))).message).toMatch(/noend\.tar .*ends at byte \d+, after member dir\/d\.bin, without the end-of-archive marker/);

    const corrupt = join(root, 'corrupt.tar');
    const bad = tar.slice();
    bad[1024 + 2] ^= 0x40;
    writeFileSync(corrupt, bad);
    expect((await rejection(indexTarFile(corrupt))).message).toMatch(/header at byte 1024 \(after member a\.txt\) has a bad checksum/);

    const junk = join(root, 'junk.tar');
    writeFileSync(junk, Buffer.alloc(2048, 65));
    expect((await rejection(indexTarFile(junk))).message).toMatch(/junk\.tar .*bad checksum/);

    const missing = await rejection(indexTarFile(join(root, 'absent.tar')));
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.message).toContain('absent.tar');
  });
});
