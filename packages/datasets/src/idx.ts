import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip as gunzipCallback } from 'node:zlib';
import { GenviewError } from '@genview/core';

const gunzip = promisify(gunzipCallback);

/** A decoded IDX file: its dimensions and its raw uint8 values in row-major order. */
export interface IdxData {
  dims: number[];
  data: Uint8Array;
}

/** What a caller expects: images are 3-D ([N, rows, cols]), labels 1-D ([N]). */
export type IdxKind = 'images' | 'labels';

const NDIMS: Record<IdxKind, number> = { images: 3, labels: 1 };
/** IDX type codes (0x08, 0x09, 0x0b-0x0e). */
const TYPE_NAMES: Record<number, string> = { 8: 'uint8', 9: 'int8', 11: 'int16', 12: 'int32', 13: 'float32', 14: 'float64' };

function hex(bytes: Uint8Array, count: number): string {
  return Array.from(bytes.subarray(0, count), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Parses an (uncompressed) IDX buffer: magic 00 00 <type> <ndims>, ndims big-endian uint32 sizes,
 * then the values. Only uint8 data is accepted, which is what MNIST-style files hold.
 */
export function parseIdx(bytes: Uint8Array, file: string, expect?: IdxKind): IdxData {
  const wanted = expect ? ` (${expect}: magic 00 00 08 0${NDIMS[expect]})` : '';
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new GenviewError('UNREADABLE_FILE', `not an IDX file: expected the magic bytes 00 00 08 0N${wanted}, found "${hex(bytes, 4)}".`, {
      where: file,
      fix: 'point to the original MNIST-format files ({train,t10k}-{images-idx3,labels-idx1}-ubyte, optionally .gz).',
    });
  }
  const type = bytes[2];
  const ndims = bytes[3];
  if (type !== 0x08) {
    throw new GenviewError('UNREADABLE_FILE', `IDX data type 0x${type.toString(16).padStart(2, '0')} (${TYPE_NAMES[type] ?? 'unknown'}) is not supported; expected 0x08 (uint8)${wanted}.`, {
      where: file,
    });
  }
  if (expect && ndims !== NDIMS[expect]) {
    throw new GenviewError('UNREADABLE_FILE', `expected an IDX ${expect} file with ${NDIMS[expect]} dimension(s) (magic 00 00 08 0${NDIMS[expect]}), but it has ${ndims} (magic ${hex(bytes, 4)}).`, {
      where: file,
      fix: expect === 'images' ? 'pass the *-images-idx3-ubyte file here, not the labels file.' : 'pass the *-labels-idx1-ubyte file here, not the images file.',
    });
  }
  const headerLength = 4 + 4 * ndims;
  if (bytes.length < headerLength) {
    throw new GenviewError('UNREADABLE_FILE', `truncated IDX header: ${ndims} dimensions need ${headerLength} bytes, the file has ${bytes.length}.`, {
      where: file,
      fix: 'the file is incomplete; copy or download it again.',
    });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const available = bytes.length - headerLength;
  if (available < count) {
    throw new GenviewError('UNREADABLE_FILE', `truncated IDX data: dimensions [${dims.join(', ')}] need ${count} bytes after the header, the file has ${available}.`, {
      where: file,
      fix: 'the file is incomplete; copy or download it again.',
    });
  }
  return { dims, data: bytes.subarray(headerLength, headerLength + count) };
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Reads a raw or gzip-compressed IDX file (told apart by content, not by extension). */
export async function readIdx(file: string, expect?: IdxKind): Promise<IdxData> {
  let raw: Uint8Array;
  try {
    raw = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new GenviewError(code === 'ENOENT' ? 'NOT_FOUND' : 'UNREADABLE_FILE', `cannot read IDX ${expect ?? 'file'}: ${(error as Error).message}`, {
      where: file,
      cause: error,
    });
  }
  if (isGzip(raw)) {
    try {
      raw = await gunzip(raw);
    } catch (error) {
      throw new GenviewError('UNREADABLE_FILE', `gzip data is corrupt or truncated (${(error as Error).message}); expected a gzip-compressed IDX ${expect ?? 'file'}.`, {
        where: file,
        fix: 'the file is damaged; copy or download it again.',
        cause: error,
      });
    }
  }
  return parseIdx(raw, file, expect);
}

/**
 * Decoded files kept for the life of the process, keyed by path, size and modification time:
 * a train and an eval dataset over the same files decode (and hold) them once.
 */
const cache = new Map<string, Promise<IdxData>>();

export async function readIdxCached(file: string, expect?: IdxKind): Promise<IdxData> {
  const path = resolve(file);
  let key = path;
  try {
    const info = await stat(path);
    key = `${path}|${info.size}|${info.mtimeMs}|${expect ?? ''}`;
  } catch {
    // readIdx reports the missing file with its own message.
  }
  let pending = cache.get(key);
  if (!pending) {
    pending = readIdx(path, expect);
    cache.set(key, pending);
    // A failed read is not cached, so fixing the file and retrying works.
    pending.catch(() => cache.delete(key));
  }
  return pending;
}

/** Drops every cached IDX file (frees their memory once no dataset holds them). */
export function clearIdxCache(): void {
  cache.clear();
}
