import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GenviewError, decodeSafetensors, encodeSafetensors, readFileIfExists, writeFileAtomic } from '@genview/core';

// A switch the atomic-write test flips to make the final rename fail, as a full disk or a crash would.
const faults = vi.hoisted(() => ({ failRename: false }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    rename: async (from: string, to: string) => {
      if (faults.failRename) throw new Error('injected rename failure');
      return actual.rename(from, to);
    },
  };
});

/** Builds a safetensors file by hand, byte by byte, independently of encodeSafetensors. */
function handBuilt(header: string, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function expectCode(fn: () => unknown, code: string, text: RegExp): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GenviewError);
    expect((error as GenviewError).code).toBe(code);
    expect((error as GenviewError).message).toMatch(text);
    return;
  }
  throw new Error('expected a GenviewError');
}

describe('safetensors', () => {
  it('round-trips float32 and int32 tensors with metadata, 8-byte aligned', () => {
    const tensors = {
      'layer1.0.conv1.weight': { dtype: 'float32' as const, shape: [2, 3], data: new Float32Array([1.5, -2, 3.25, 0, 1e-8, -7]) },
      step: { dtype: 'int32' as const, shape: [], data: new Int32Array([42]) },
      'empty.bias': { dtype: 'float32' as const, shape: [0], data: new Float32Array(0) },
      odd: { dtype: 'int32' as const, shape: [3, 1], data: new Int32Array([-1, 2147483647, -2147483648]) },
    };
    const bytes = encodeSafetensors(tensors, { format: 'pt', note: 'héllo' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
    expect(header.trimEnd().endsWith('}')).toBe(true);
    expect(JSON.parse(header).step).toEqual({ dtype: 'I32', shape: [], data_offsets: expect.any(Array) });

    const decoded = decodeSafetensors(bytes);
    expect(decoded.metadata).toEqual({ format: 'pt', note: 'héllo' });
    expect(Object.keys(decoded.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(decoded.tensors[name].dtype).toBe(t.dtype);
      expect(decoded.tensors[name].shape).toEqual(t.shape);
      expect(Array.from(decoded.tensors[name].data)).toEqual(Array.from(t.data));
      expect(decoded.tensors[name].data).toBeInstanceOf(t.dtype === 'float32' ? Float32Array : Int32Array);
    }
  });

  it('decodes a hand-built file, with a byte offset into a larger buffer', () => {
    // 1.0f = 00 00 80 3f, -2.0f = 00 00 00 c0 (little-endian); int32 7 = 07 00 00 00.
    const file = handBuilt(
      '{"__metadata__":{"k":"v"},"b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
      [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 7, 0, 0, 0],
    );
    const padded = new Uint8Array(file.length + 3);
    padded.set(file, 3);
    const decoded = decodeSafetensors(padded.subarray(3));
    expect(decoded.metadata).toEqual({ k: 'v' });
    expect(Array.from(decoded.tensors.a.data)).toEqual([1, -2]);
    expect(decoded.tensors.a.shape).toEqual([2]);
    expect(Array.from(decoded.tensors.b.data)).toEqual([7]);
    expect(decoded.tensors.b.dtype).toBe('int32');
  });

  it('refuses malformed files with clear errors', () => {
    const good = encodeSafetensors({ w: { dtype: 'float32', shape: [4], data: new Float32Array(4) } });
    expectCode(() => decodeSafetensors(good.subarray(0, 5)), 'UNREADABLE_FILE', /only 5 bytes/);
    expectCode(() => decodeSafetensors(good.subarray(0, 20)), 'UNREADABLE_FILE', /truncated/);
    expectCode(() => decodeSafetensors(good.subarray(0, good.length - 4)), 'UNREADABLE_FILE', /ends at byte 16 .*truncated/);
    expectCode(() => decodeSafetensors(handBuilt('not json', [])), 'UNREADABLE_FILE', /not UTF-8 JSON/);
    expectCode(
      () => decodeSafetensors(handBuilt('{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', [0, 0, 0, 0])),
      'UNREADABLE_FILE',
      /dtype F16; only F32 and I32/,
    );
    expectCode(
      () => decodeSafetensors(handBuilt('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', [0, 0, 0, 0])),
      'UNREADABLE_FILE',
      /shape \[2\] \(8 bytes\) but data_offsets span 4/,
    );
    expectCode(
      () => decodeSafetensors(handBuilt('{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Array(8).fill(0))),
      'UNREADABLE_FILE',
      /overlap or hole/,
    );
    expectCode(() => encodeSafetensors({ w: { dtype: 'float32', shape: [3], data: new Float32Array(4) } }), 'BAD_INPUT', /3 elements\) but 4 values/);
  });
});

describe('atomic file writes', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'genview-io-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes bytes and strings, replaces the old file, and leaves no temporary file', async () => {
    const path = join(dir, 'weights.safetensors');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect(Array.from(await readFile(path))).toEqual([1, 2, 3]);
    await writeFileAtomic(path, 'replaced');
    expect(await readFileIfExists(path, 'utf8')).toBe('replaced');
    expect(await readdir(dir)).toEqual(['weights.safetensors']);
  });

  it('keeps the old file intact and removes the temporary file when the write fails', async () => {
    const path = join(dir, 'state.json');
    await writeFile(path, 'old content');
    // The setup file loaded core before the mock existed; a fresh copy of the module sees the mocked rename.
    vi.resetModules();
    const fresh = await import('../src/io/atomic');
    faults.failRename = true;
    try {
      await expect(fresh.writeFileAtomic(path, 'new content that never lands')).rejects.toThrow(/could not write .*injected rename failure/);
    } finally {
      faults.failRename = false;
    }
    expect(await readFile(path, 'utf8')).toBe('old content');
    expect((await readdir(dir)).filter((f) => f.includes('state.json'))).toEqual(['state.json']);
  });

  it('fails without leaving anything when the directory does not exist', async () => {
    await expect(writeFileAtomic(join(dir, 'missing', 'x.bin'), 'x')).rejects.toBeInstanceOf(GenviewError);
  });

  it('readFileIfExists returns null for a missing file and bytes for a present one', async () => {
    expect(await readFileIfExists(join(dir, 'nope'))).toBeNull();
    const path = join(dir, 'present.bin');
    await writeFile(path, new Uint8Array([9, 8]));
    const bytes = await readFileIfExists(path);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(Array.from(bytes ?? [])).toEqual([9, 8]);
    await expect(readFileIfExists(dir)).rejects.toBeInstanceOf(GenviewError);
  });
});
