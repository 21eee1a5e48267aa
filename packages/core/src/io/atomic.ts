import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { GenviewError } from '../errors';

let tempCounter = 0;

/**
 * Writes a file so that readers see either the old content or the complete new content, never a
 * partial one: the bytes go to a temporary file in the same directory (rename is only atomic within
 * one file system), are fsynced, and the temporary file is renamed over the target. If anything fails
 * the temporary file is removed and the old file is left as it was.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  // pid + counter + time makes the name unique across concurrent writers; 'wx' refuses to reuse one anyway.
  const temp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.${tempCounter++}.tmp`);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(temp, 'wx');
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
  } catch (error) {
    if (handle !== undefined) await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw new GenviewError('UNREADABLE_FILE', `could not write ${path}: ${error instanceof Error ? error.message : String(error)}.`, {
      where: path,
      fix: 'check that the directory exists, is writable and has free space; the previous file (if any) is unchanged.',
      cause: error,
    });
  }
  await syncDirectory(dir);
}

/** Makes the rename itself durable across a power cut; directories cannot be opened for fsync on every platform. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Best effort: the file content is already complete and in place.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** The file's bytes, or null when it does not exist; any other failure (permissions, a directory) is an error. */
export async function readFileIfExists(path: string): Promise<Uint8Array | null>;
export async function readFileIfExists(path: string, encoding: 'utf8'): Promise<string | null>;
export async function readFileIfExists(path: string, encoding?: 'utf8'): Promise<Uint8Array | string | null> {
  try {
    const buffer = await readFile(path);
    if (encoding === 'utf8') return buffer.toString('utf8');
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (error) {
    if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') return null;
    throw new GenviewError('UNREADABLE_FILE', `could not read ${path}: ${error instanceof Error ? error.message : String(error)}.`, {
      where: path,
      fix: 'check that the path names a readable file.',
      cause: error,
    });
  }
}
