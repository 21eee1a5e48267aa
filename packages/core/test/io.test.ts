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
      () => decodeSafetensors(handBuilt('{"x":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}', [0, 0])),
      'UNREADABLE_FILE',
      /tensor "x" has dtype F8_E4M3; GenView reads F32, F16, BF16, F64, I32, I64/,
    );
    expectCode(
      () => decodeSafetensors(handBuilt('{"x":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}', new Array(8).fill(0))),
      'UNREADABLE_FILE',
      /shape \[2\] \(4 bytes of F16\) but data_offsets span 8/,
    );
    expectCode(
      () => decodeSafetensors(handBuilt('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', [0, 0, 0, 0])),
      'UNREADABLE_FILE',
      /shape \[2\] \(8 bytes of F32\) but data_offsets span 4/,
    );
    expectCode(
      () => decodeSafetensors(handBuilt('{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Array(8).fill(0))),
      'UNREADABLE_FILE',
      /overlap or hole/,
    );
    expectCode(() => encodeSafetensors({ w: { dtype: 'float32', shape: [3], data: new Float32Array(4) } }), 'BAD_INPUT', /3 elements\) but 4 values/);
    expectCode(() => encodeSafetensors({ w: { dtype: 'int32', shape: [1], data: new Int32Array(1), stored: 'F16' } }), 'BAD_INPUT', /int32 and cannot be stored as F16/);
  });
});

/** Little-endian bytes of 16-bit patterns. */
function u16Bytes(bits: number[]): number[] {
  return bits.flatMap((b) => [b & 0xff, b >>> 8]);
}

/** The 16-bit patterns of a tensor written by encodeSafetensors, read straight from the data buffer. */
function storedBits(bytes: Uint8Array, name: string): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const entry = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)))[name];
  const [begin, end] = entry.data_offsets as [number, number];
  const out: number[] = [];
  for (let at = 8 + headerLength + begin; at < 8 + headerLength + end; at += 2) out.push(view.getUint16(at, true));
  return out;
}

describe('safetensors half, bfloat16, double and int64', () => {
  // [bits, value] pairs from the IEEE 754 binary16 tables: signed zeros, the smallest subnormal, the
  // smallest normal, the largest finite value, infinities, and a value that is not a power of two.
  const F16_VALUES: Array<[number, number]> = [
    [0x0000, 0], [0x8000, -0], [0x3c00, 1], [0xc000, -2], [0x3555, 0.333251953125], [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24], [0x0400, 2 ** -14], [0x7bff, 65504], [0x7c00, Infinity], [0xfc00, -Infinity],
  ];
  // bfloat16 is the top half of a float32: 1 = 3f80, -2 = c000, pi rounds to 3.140625 (4049).
  const BF16_VALUES: Array<[number, number]> = [
    [0x0000, 0], [0x8000, -0], [0x3f80, 1], [0xc000, -2], [0x4049, 3.140625], [0x0001, 2 ** -133],
    [0x7f7f, 3.3895313892515355e38], [0x7f80, Infinity], [0xff80, -Infinity],
  ];

  it('reads F16, BF16 and F64 into float32 and I64 into int32, keeping the stored dtype', () => {
    const f16 = F16_VALUES.map(([b]) => b);
    const bf16 = BF16_VALUES.map(([b]) => b);
    const f64 = new Uint8Array(new Float64Array([0.1, -1e300, 2.5]).buffer);
    const i64 = new Uint8Array(new BigInt64Array([-3n, 2147483647n]).buffer);
    const nanBits = [0x7e00, 0x7fc0];
    const parts = [u16Bytes(f16), u16Bytes(bf16), Array.from(f64), Array.from(i64), u16Bytes(nanBits)];
    const offsets: number[] = [0];
    for (const p of parts) offsets.push(offsets[offsets.length - 1] + p.length);
    const header = JSON.stringify({
      h: { dtype: 'F16', shape: [f16.length], data_offsets: [offsets[0], offsets[1]] },
      b: { dtype: 'BF16', shape: [bf16.length], data_offsets: [offsets[1], offsets[2]] },
      d: { dtype: 'F64', shape: [3], data_offsets: [offsets[2], offsets[3]] },
      n: { dtype: 'I64', shape: [2], data_offsets: [offsets[3], offsets[4]] },
      nan: { dtype: 'F16', shape: [1], data_offsets: [offsets[4], offsets[4] + 2] },
      bnan: { dtype: 'BF16', shape: [1], data_offsets: [offsets[4] + 2, offsets[5]] },
    });
    const { tensors } = decodeSafetensors(handBuilt(header, parts.flat()));
    expect(tensors.h).toMatchObject({ dtype: 'float32', stored: 'F16', shape: [f16.length] });
    expect(tensors.h.data).toBeInstanceOf(Float32Array);
    expect(Array.from(tensors.h.data)).toEqual(F16_VALUES.map(([, v]) => v));
    expect(Object.is(tensors.h.data[1], -0)).toBe(true);
    expect(tensors.b).toMatchObject({ dtype: 'float32', stored: 'BF16' });
    expect(Array.from(tensors.b.data)).toEqual(BF16_VALUES.map(([, v]) => v));
    expect(Object.is(tensors.b.data[1], -0)).toBe(true);
    // F64 narrows to the nearest float32; -1e300 is past float32's range.
    expect(Array.from(tensors.d.data)).toEqual([Math.fround(0.1), -Infinity, 2.5]);
    expect(tensors.n).toMatchObject({ dtype: 'int32', stored: 'I64' });
    expect(Array.from(tensors.n.data)).toEqual([-3, 2147483647]);
    expect(Number.isNaN(tensors.nan.data[0])).toBe(true);
    expect(Number.isNaN(tensors.bnan.data[0])).toBe(true);
  });

  it('refuses an I64 value outside int32, naming the tensor', () => {
    const big = Array.from(new Uint8Array(new BigInt64Array([2n ** 40n]).buffer));
    expectCode(
      () => decodeSafetensors(handBuilt('{"bn1.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}', big)),
      'UNREADABLE_FILE',
      /"bn1.num_batches_tracked" \(I64\) holds 1099511627776/,
    );
  });

  it('writes F16 and BF16 rounded to nearest, ties to even, and reads them back', () => {
    const exact16 = F16_VALUES.map(([, v]) => v);
    const exactB = BF16_VALUES.map(([, v]) => v);
    // F16 keeps 10 mantissa bits: 1 + 2^-11 is a tie between 1 (even) and 1 + 2^-10 (odd), so it goes
    // down; 1 + 3·2^-11 is a tie between 1 + 2^-10 (odd) and 1 + 2^-9 (even), so it goes up.
    // 65519 rounds to 65504, 65520 (a tie with 65536) to infinity; 2^-25 (a tie with 0) to 0 and
    // 1.5·2^-25 to the smallest subnormal; a float32 subnormal to 0.
    const rounding16: Array<[number, number]> = [
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [1 + 2 ** -11 + 2 ** -20, 0x3c01], [65519, 0x7bff],
      [65520, 0x7c00], [1e10, 0x7c00], [-1e10, 0xfc00], [2 ** -25, 0x0000], [1.5 * 2 ** -25, 0x0001],
      [-(2 ** -25) * 3, 0x8002], [1e-40, 0x0000], [2 ** -14 - 2 ** -25, 0x0400], [0.1, 0x2e66],
    ];
    // BF16 keeps 7 bits: 1 + 2^-8 ties down to 1, 1 + 3·2^-8 up to 1 + 2^-6; float32's largest value
    // rounds past bfloat16's largest to infinity.
    const roundingB: Array<[number, number]> = [
      [1 + 2 ** -8, 0x3f80], [1 + 3 * 2 ** -8, 0x3f82], [1 + 2 ** -8 + 2 ** -20, 0x3f81], [Math.PI, 0x4049],
      [3.4028234663852886e38, 0x7f80], [0.1, 0x3dcd],
    ];
    const bytes = encodeSafetensors({
      h: { dtype: 'float32', shape: [exact16.length + rounding16.length + 1], data: Float32Array.from([...exact16, ...rounding16.map(([v]) => v), Number.NaN]), stored: 'F16' },
      b: { dtype: 'float32', shape: [exactB.length + roundingB.length + 1], data: Float32Array.from([...exactB, ...roundingB.map(([v]) => v), Number.NaN]), stored: 'BF16' },
      d: { dtype: 'float32', shape: [2], data: Float32Array.from([Math.fround(0.1), -3]), stored: 'F64' },
    });
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true)))));
    expect([header.h.dtype, header.b.dtype, header.d.dtype]).toEqual(['F16', 'BF16', 'F64']);
    const hBits = storedBits(bytes, 'h');
    expect(hBits.slice(0, exact16.length)).toEqual(F16_VALUES.map(([b]) => b));
    expect(hBits.slice(exact16.length, -1).map((b) => b.toString(16))).toEqual(rounding16.map(([, b]) => b.toString(16)));
    expect(hBits[hBits.length - 1] & 0x7c00).toBe(0x7c00);
    expect(hBits[hBits.length - 1] & 0x3ff).not.toBe(0);
    const bBits = storedBits(bytes, 'b');
    expect(bBits.slice(0, exactB.length)).toEqual(BF16_VALUES.map(([b]) => b));
    expect(bBits.slice(exactB.length, -1).map((b) => b.toString(16))).toEqual(roundingB.map(([, b]) => b.toString(16)));
    expect(bBits[bBits.length - 1] & 0x7f80).toBe(0x7f80);
    expect(bBits[bBits.length - 1] & 0x7f).not.toBe(0);

    const back = decodeSafetensors(bytes).tensors;
    expect(Array.from(back.h.data).slice(0, exact16.length)).toEqual(exact16);
    expect(Array.from(back.b.data).slice(0, exactB.length)).toEqual(exactB);
    expect(Array.from(back.d.data)).toEqual([Math.fround(0.1), -3]);
    expect(back.d.stored).toBe('F64');
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
