import { link, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { GenviewError, readFileIfExists, removeStaleTemporaries, temporaryPathFor, writeFileAtomic } from '@genview/core';

/**
 * Everything the view store needs from where it lives. Keys are '/'-separated paths relative to the
 * store root ("shards/shard-000000.tar"). The store only ever replaces whole objects and never
 * appends, so an object store (put is atomic, put-if-absent is a conditional put) can implement
 * this as well as a file system can.
 */
export interface StoreBackend {
  /** Where the store is, for messages: a directory or a URL. */
  readonly location: string;
  /** The full name of one key, for messages. */
  describe(key: string): string;
  /** The object's bytes, or null when it does not exist. */
  read(key: string): Promise<Uint8Array | null>;
  /** Replaces the object so that readers see the old or the new bytes, never a mix. */
  writeAtomic(key: string, data: Uint8Array | string): Promise<void>;
  /** Creates the object only if it does not exist yet; false when it already did (nothing written). */
  writeIfAbsent(key: string, data: Uint8Array | string): Promise<boolean>;
  /** Names of the objects directly under `prefix` (a "folder" key, no trailing '/'); temporaries excluded. */
  list(prefix: string): Promise<string[]>;
  exists(key: string): Promise<boolean>;
  /** Deletes the object; a missing one is not an error. */
  remove(key: string): Promise<void>;
  /**
   * Deletes temporaries that interrupted writers left under `prefix` and returns their names.
   * Backends whose writes leave nothing behind (object stores) return [].
   */
  removeStaleTemporaries(prefix: string, graceMs: number): Promise<string[]>;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** A store in a local (or network-mounted) directory. */
export class LocalStoreBackend implements StoreBackend {
  readonly location: string;

  constructor(dir: string) {
    this.location = resolve(dir);
  }

  describe(key: string): string {
    return key === '' ? this.location : join(this.location, ...key.split('/'));
  }

  read(key: string): Promise<Uint8Array | null> {
    return readFileIfExists(this.describe(key));
  }

  async writeAtomic(key: string, data: Uint8Array | string): Promise<void> {
    const path = this.describe(key);
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, data);
  }

  async writeIfAbsent(key: string, data: Uint8Array | string): Promise<boolean> {
    const path = this.describe(key);
    await mkdir(dirname(path), { recursive: true });
    const temp = temporaryPathFor(path);
    try {
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      // link() fails with EEXIST instead of replacing, and publishes the complete file in one step:
      // 'wx' on the final name would expose a partly written file to a concurrent reader.
      await link(temp, path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new GenviewError('UNREADABLE_FILE', `could not create ${path}: ${(error as Error).message}`, {
        where: path,
        fix: 'check that the directory is writable, on a file system with hard links, and has free space.',
        cause: error,
      });
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  async list(prefix: string): Promise<string[]> {
    try {
      const entries = await readdir(this.describe(prefix), { withFileTypes: true });
      return entries
        .filter((e) => e.isFile() && !e.name.startsWith('.'))
        .map((e) => e.name)
        .sort();
    } catch (error) {
      if (isMissing(error)) return [];
      throw new GenviewError('UNREADABLE_FILE', `could not list ${this.describe(prefix)}: ${(error as Error).message}`, {
        where: this.describe(prefix),
        fix: 'check that the store directory is readable.',
        cause: error,
      });
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await stat(this.describe(key));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async remove(key: string): Promise<void> {
    try {
      await unlink(this.describe(key));
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }

  /** See core's removeStaleTemporaries: this host's dead writers at once, other hosts' after the grace period. */
  async removeStaleTemporaries(prefix: string, graceMs: number): Promise<string[]> {
    const removed = await removeStaleTemporaries(this.describe(prefix), graceMs);
    return removed.map((name) => (prefix ? `${prefix}/${name}` : name));
  }
}
