import { type FileHandle, open } from 'node:fs/promises';
import { GenviewError } from '../errors';
import { TAR_BLOCK, field, headerSum, isZero, padded, readOctal } from './tar';

/** One regular file inside a tar archive on disk: where its bytes are, without having read them. */
export interface TarMember {
  name: string;
  /** Byte offset of the member's data in the archive. */
  offset: number;
  size: number;
  /** Byte offset of the member's (first) header, for error messages. */
  headerOffset: number;
}

export interface IndexTarOptions {
  /** What the user should do when the archive is damaged (default: recreate it). */
  fix?: string;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** pax extended header records: "<length> <key>=<value>\n", repeated. */
function paxRecords(bytes: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < bytes.length) {
    const space = bytes.indexOf(0x20, at);
    if (space === -1) break;
    const length = Number.parseInt(String.fromCharCode(...bytes.subarray(at, space)), 10);
    if (!(length > 0) || at + length > bytes.length) break;
    const record = decoder.decode(bytes.subarray(space + 1, at + length - 1));
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return out;
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buffer : buffer.subarray(0, done);
}

/**
 * Lists the regular files of a tar archive on disk by reading its headers only (one 512-byte read per
 * member, data skipped by offset), so an index over many large shards costs memory per member, not
 * per byte. Reads what common writers produce: ustar, GNU (long names, `ustar  ` magic) and pax
 * (`path`/`size` records); directories and global pax headers are passed over. Every header's checksum
 * is checked, every member's data must lie inside the file and the archive must end with its
 * end-of-archive marker, so a shard cut short fails naming the member and byte offset where it stops.
 */
export async function indexTarFile(path: string, options: IndexTarOptions = {}): Promise<TarMember[]> {
  const fix = options.fix ?? 'the archive is damaged or incomplete; recreate it from its source (tar -tf lists what survives).';
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new GenviewError(code === 'ENOENT' ? 'NOT_FOUND' : 'UNREADABLE_FILE', `cannot open the tar archive ${path}: ${(error as Error).message}`, {
      where: path,
      fix: 'check the path (and that the archive was written completely).',
      cause: error,
    });
  }
  const fail: (problem: string) => never = (problem) => {
    throw new GenviewError('UNREADABLE_FILE', `${path} is not a complete tar archive: ${problem}`, { where: path, fix });
  };
  try {
    const length = (await handle.stat()).size;
    const members: TarMember[] = [];
    let offset = 0;
    // Metadata a pax 'x' or GNU 'L' header sets for the member that follows it.
    let nextName: string | undefined;
    let nextSize: number | undefined;
    let last = 'the start of the archive';
    for (;;) {
      if (offset + TAR_BLOCK > length) fail(`it ends at byte ${length}, after ${last}, without the end-of-archive marker (two zero blocks): truncated.`);
      const block = await readAt(handle, offset, TAR_BLOCK);
      if (isZero(block)) {
        const second = offset + 2 * TAR_BLOCK <= length ? await readAt(handle, offset + TAR_BLOCK, TAR_BLOCK) : undefined;
        if (!second || !isZero(second)) fail(`the end-of-archive marker at byte ${offset} (after ${last}) is cut short or followed by data.`);
        return members;
      }
      const stored = readOctal(block, 148, 8);
      const sum = headerSum(block);
      if (stored === null || (stored !== sum.unsigned && stored !== sum.signed)) {
        fail(`the header at byte ${offset} (after ${last}) has a bad checksum (stored ${stored ?? 'unreadable'}, computed ${sum.unsigned}): not a tar file, or damaged there.`);
      }
      const magic = String.fromCharCode(...block.subarray(257, 262));
      if (magic !== 'ustar') fail(`the header at byte ${offset} is not ustar/GNU/pax (magic ${JSON.stringify(magic)}).`);
      let name: string;
      try {
        const base = decoder.decode(field(block, 0, 100));
        const prefix = decoder.decode(field(block, 345, 155));
        name = prefix ? `${prefix}/${base}` : base;
      } catch {
        return fail(`the member name at byte ${offset} is not UTF-8.`);
      }
      const headerSize = readOctal(block, 124, 12);
      if (headerSize === null) fail(`member ${name} (header at byte ${offset}) has an unreadable size field.`);
      const type = String.fromCharCode(block[156]);
      const dataOffset = offset + TAR_BLOCK;
      const isFile = type === '0' || type === '\0' || type === '7';
      const size = isFile && nextSize !== undefined ? nextSize : headerSize;
      if (dataOffset + size > length) {
        fail(`member ${nextName ?? name} (header at byte ${offset}) needs ${size} bytes from byte ${dataOffset}, but the file ends at byte ${length}: truncated inside it.`);
      }
      if (type === 'x' || type === 'L') {
        const payload = await readAt(handle, dataOffset, size);
        if (type === 'L') nextName = decoder.decode(field(payload, 0, payload.length));
        else {
          const records = paxRecords(payload);
          if (records.has('path')) nextName = records.get('path');
          if (records.has('size')) nextSize = Number(records.get('size'));
        }
      } else if (isFile) {
        const memberName = nextName ?? name;
        members.push({ name: memberName, offset: dataOffset, size, headerOffset: offset });
        last = `member ${memberName}`;
        nextName = undefined;
        nextSize = undefined;
      } else if (type === '5' || type === 'g') {
        nextName = undefined;
        nextSize = undefined;
      } else {
        fail(`member ${name} (header at byte ${offset}) has type ${JSON.stringify(type)} (a link or special file); only regular files and directories are read.`);
      }
      offset = dataOffset + padded(size);
    }
  } finally {
    await handle.close();
  }
}
