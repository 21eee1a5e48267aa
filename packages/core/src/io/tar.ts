import { GenviewError } from '../errors';

/**
 * A minimal POSIX ustar writer and reader: regular files only, names of at most 100 bytes, no
 * extensions. Shards are plain tar so that WebDataset, `tar -t` and friends read them as they are,
 * and our own reader stays small enough to check every header rather than trusting a library's
 * leniency (a half-written shard must fail loudly, not yield fewer samples).
 */

export const TAR_BLOCK = 512;
const NAME_MAX = 100;
/** 11 octal digits: ustar's size field cannot say more without the GNU base-256 extension. */
const SIZE_MAX = 0o77777777777;

export interface TarEntry {
  name: string;
  data: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function writeString(header: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = encoder.encode(text);
  if (bytes.length > length) throw new Error(`"${text}" does not fit in ${length} bytes`);
  header.set(bytes, offset);
}

/** Octal, zero-padded to width - 1 digits and NUL-terminated, as every tar implementation reads it. */
function writeOctal(header: Uint8Array, offset: number, width: number, value: number): void {
  writeString(header, offset, width, `${value.toString(8).padStart(width - 1, '0')}\0`);
}

/** @internal shared with tar-index.ts */
export function headerSum(header: Uint8Array): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    // The checksum field itself counts as eight spaces.
    const byte = i >= 148 && i < 156 ? 0x20 : header[i];
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return { unsigned, signed };
}

function checkName(name: string): Uint8Array {
  const bytes = encoder.encode(name);
  if (bytes.length === 0 || bytes.length > NAME_MAX || name.includes('\0')) {
    throw new GenviewError('BAD_INPUT', `tar entry name ${JSON.stringify(name)} must be 1 to ${NAME_MAX} bytes of UTF-8 without NUL, got ${bytes.length} bytes.`, {
      fix: 'use shorter names; this writer does not emit the ustar prefix field or pax headers.',
    });
  }
  return bytes;
}

function header(name: string, size: number): Uint8Array {
  const block = new Uint8Array(TAR_BLOCK);
  block.set(checkName(name), 0);
  writeOctal(block, 100, 8, 0o644);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, size);
  // mtime 0: the same entries must give the same bytes, so that duplicated jobs write identical shards.
  writeOctal(block, 136, 12, 0);
  block[156] = 0x30; // '0': regular file
  writeString(block, 257, 6, 'ustar\0');
  writeString(block, 263, 2, '00');
  const sum = headerSum(block).unsigned;
  // Six digits, NUL, space: the historical layout that every reader accepts.
  writeString(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** @internal */
export function padded(size: number): number {
  return Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}

/** The archive bytes: each entry's header and data padded to 512 bytes, then two zero blocks. */
export function writeTar(entries: readonly TarEntry[]): Uint8Array {
  const seen = new Set<string>();
  let total = 2 * TAR_BLOCK;
  for (const entry of entries) {
    checkName(entry.name);
    if (seen.has(entry.name)) {
      throw new GenviewError('BAD_INPUT', `tar entry name ${JSON.stringify(entry.name)} appears twice.`, { fix: 'give every entry a unique name.' });
    }
    seen.add(entry.name);
    if (entry.data.length > SIZE_MAX) {
      throw new GenviewError('BAD_INPUT', `tar entry ${entry.name} has ${entry.data.length} bytes; ustar holds at most ${SIZE_MAX}.`, {
        fix: 'split the data into smaller files.',
      });
    }
    total += TAR_BLOCK + padded(entry.data.length);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const entry of entries) {
    out.set(header(entry.name, entry.data.length), offset);
    offset += TAR_BLOCK;
    out.set(entry.data, offset);
    offset += padded(entry.data.length);
  }
  return out;
}

export interface ReadTarOptions {
  /** The file the bytes came from, named in every error. */
  where: string;
  /** What the user should do when the archive is damaged. */
  fix?: string;
}

/** @internal */
export function field(block: Uint8Array, offset: number, length: number): Uint8Array {
  const bytes = block.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return end === -1 ? bytes : bytes.subarray(0, end);
}

/** @internal */
export function readOctal(block: Uint8Array, offset: number, length: number): number | null {
  const text = String.fromCharCode(...field(block, offset, length)).trim();
  if (!/^[0-7]+$/.test(text)) return null;
  return Number.parseInt(text, 8);
}

/** @internal */
export function isZero(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * The entries of a ustar archive, in order; each `data` is a view into `bytes` (no copy). Every
 * header's checksum is checked and the archive must end with its two zero blocks, so a file cut off
 * by a killed writer or a full disk is reported instead of read as a shorter archive.
 */
export function readTar(bytes: Uint8Array, options: ReadTarOptions): TarEntry[] {
  const fix = options.fix ?? 'the archive is damaged or incomplete; recreate it from its source.';
  const fail: (problem: string) => never = (problem) => {
    throw new GenviewError('UNREADABLE_FILE', `not a valid tar archive: ${problem}`, { where: options.where, fix });
  };
  const entries: TarEntry[] = [];
  let offset = 0;
  for (;;) {
    if (offset + TAR_BLOCK > bytes.length) {
      fail(`truncated after ${entries.length} entries (${bytes.length} bytes, ends before the end-of-archive marker).`);
    }
    const block = bytes.subarray(offset, offset + TAR_BLOCK);
    if (isZero(block)) {
      if (offset + 2 * TAR_BLOCK > bytes.length || !isZero(bytes.subarray(offset + TAR_BLOCK, offset + 2 * TAR_BLOCK))) {
        fail(`truncated or corrupt end-of-archive marker at byte ${offset} after ${entries.length} entries.`);
      }
      return entries;
    }
    const stored = readOctal(block, 148, 8);
    const sum = headerSum(block);
    if (stored === null || (stored !== sum.unsigned && stored !== sum.signed)) {
      fail(`header checksum mismatch at byte ${offset} (entry ${entries.length + 1}): stored ${stored ?? 'unreadable'}, computed ${sum.unsigned}.`);
    }
    const magic = String.fromCharCode(...block.subarray(257, 262));
    if (magic !== 'ustar') fail(`header at byte ${offset} is not ustar (magic ${JSON.stringify(magic)}).`);
    let name: string;
    try {
      const base = decoder.decode(field(block, 0, NAME_MAX));
      const prefix = decoder.decode(field(block, 345, 155));
      name = prefix ? `${prefix}/${base}` : base;
    } catch {
      return fail(`entry name at byte ${offset} is not UTF-8.`);
    }
    const type = block[156];
    // '0' and the pre-POSIX NUL both mean a regular file; links, directories and extensions are out of scope.
    if (type !== 0x30 && type !== 0) fail(`entry ${name} has type ${JSON.stringify(String.fromCharCode(type))}; only regular files are supported.`);
    const size = readOctal(block, 124, 12);
    if (size === null) fail(`entry ${name} has an unreadable size field.`);
    const start = offset + TAR_BLOCK;
    if (start + size > bytes.length) {
      fail(`truncated inside entry ${name}: it needs ${size} bytes, the file has ${bytes.length - start} left.`);
    }
    entries.push({ name, data: bytes.subarray(start, start + size) });
    offset = start + padded(size);
  }
}
