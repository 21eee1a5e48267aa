import { createHash } from 'node:crypto';
import { open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { GenviewError } from '../errors';

let tempCounter = 0;

/**
 * Which machine wrote a temporary: a pid only means something on the host that issued it, so a
 * cleaner may trust "that process is gone" for its own host's temporaries alone (a directory can be
 * shared by several hosts over NFS).
 */
const HOST_TAG = `h${createHash('sha256').update(hostname()).digest('hex').slice(0, 8)}`;

/** `.<name>.h<host>.<pid>.<ms>.<n>.tmp`; files written before the host tag existed lack that part. */
const TEMP_PATTERN = /^\..+?(?:\.(h[0-9a-f]{8}))?\.(\d+)\.(\d+)\.(\d+)\.tmp$/;

/**
 * A temporary name beside `path` that no other writer (process, host or call) uses, and that
 * removeStaleTemporaries recognises.
 */
export function temporaryPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${HOST_TAG}.${process.pid}.${Date.now()}.${tempCounter++}.tmp`);
}

/** Whether a directory entry is a temporary of writeFileAtomic (or of temporaryPathFor). */
export function isTemporaryName(name: string): boolean {
  return TEMP_PATTERN.test(name);
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes the temporaries that killed writers left in `dir` (not below it) and returns their names.
 * One written on this host is stale as soon as its process is gone. One from another host (or from
 * before temporaries carried a host tag) is stale only when no process of that pid lives here AND it
 * is older than `graceMs`, since its pid may belong to a live writer elsewhere.
 */
export async function removeStaleTemporaries(dir: string, graceMs: number): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const removed: string[] = [];
  const now = Date.now();
  for (const name of names) {
    const match = TEMP_PATTERN.exec(name);
    if (!match || processAlive(Number(match[2]))) continue;
    const path = join(dir, name);
    try {
      if (match[1] !== HOST_TAG) {
        const info = await stat(path);
        if (now - info.mtimeMs < graceMs) continue;
      }
      await unlink(path);
      removed.push(name);
    } catch (error) {
      // Another cleaner got there first.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return removed;
}

/**
 * Writes a file so that readers see either the old content or the complete new content, never a
 * partial one: the bytes go to a temporary file in the same directory (rename is only atomic within
 * one file system), are fsynced, and the temporary file is renamed over the target. If anything fails
 * the temporary file is removed and the old file is left as it was.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  // host + pid + counter + time makes the name unique across concurrent writers; 'wx' refuses to reuse one anyway.
  const temp = temporaryPathFor(path);
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
