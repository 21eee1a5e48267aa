import { type EventBus, type GenerationParams, GenviewError, type ImageShape, type TarEntry, readTar, writeTar } from '@genview/core';
import { LocalStoreBackend, type StoreBackend } from './backend';
import {
  DONE_PREFIX,
  INDEX_KEY,
  META_KEY,
  type MetaDifference,
  SHARDS_PREFIX,
  STORE_VERSION,
  type ShardMarker,
  type StoreIndex,
  type StoreMeta,
  type StoreMetaInput,
  entryName,
  markerKey,
  metaDifferences,
  numShards,
  parseIndex,
  parseMarker,
  parseStoreMeta,
  sha256Hex,
  shardKey,
  shardOfMarker,
  stableStringify,
} from './layout';
import { decodePng, encodePng } from './png';

/*
 * How completion is recorded, and why per-shard markers rather than a locked index.
 *
 * A shard is complete when done/shard-NNNNNN.json exists. Each marker is written by itself, atomically,
 * after its tar is in place, so two processes finishing different shards never touch the same file
 * and there is nothing to merge. index.json is only a summary derived from the markers: after every
 * shard the writer rebuilds it from a fresh listing of done/, publishes it atomically, lists again and
 * repeats if a marker appeared meanwhile; the last writer to finish therefore leaves a complete index,
 * and a stale one (a writer killed between marker and index) is rebuilt on the next open for writing.
 *
 * A lock file created with 'wx' around a read-modify-write of index.json would also merge, but a
 * writer killed while holding it leaves the store locked until someone decides the lock is stale
 * (pids mean nothing across the hosts of a cluster sharing the directory), O_EXCL is unreliable on
 * some network file systems, and object stores have no such lock at all. Markers need none of that.
 */

const DEFAULT_CACHE_SHARDS = 4;
/** Generous: a temporary exists only while one shard's bytes are written and fsynced. */
const DEFAULT_TEMP_GRACE_MS = 10 * 60 * 1000;
const IO_CONCURRENCY = 16;

export type StoreLocation = string | StoreBackend;

export interface ViewStoreOptions {
  /** Parsed shards kept in memory for readView (least recently used first out). */
  cacheShards?: number;
  /** Temporaries of dead writers younger than this are left alone (see LocalStoreBackend). */
  tempGraceMs?: number;
  /** Where warnings go (a damaged index.json that is rebuilt); the store never prints. */
  events?: EventBus;
}

export interface OpenOrCreateOptions extends ViewStoreOptions {
  /** Delete an existing store in the location first (the CLI's --overwrite). */
  overwrite?: boolean;
}

/** One generated view to store: uint8 pixels in HWC order, and the parameters that made it. */
export interface ViewToStore {
  index: number;
  k: number;
  pixels: Uint8Array;
  params: GenerationParams;
}

export interface StoredView {
  index: number;
  k: number;
  /** uint8, HWC. */
  pixels: Uint8Array;
  shape: ImageShape;
  params: GenerationParams;
}

export interface WriteShardResult {
  shard: number;
  /**
   * written: this call's bytes are the shard. already-complete: the shard was done before; nothing was
   * written. superseded: a concurrent writer of the same shard with different bytes finished last.
   */
  outcome: 'written' | 'already-complete' | 'superseded';
  /** Whether the stored shard has exactly the bytes this call produced (true for an idempotent retry). */
  identical: boolean;
  marker: ShardMarker;
}

export interface VerifyProblem {
  shard: number;
  problem: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Shards whose tar was read and checked. */
  checked: number;
  totalShards: number;
  problems: VerifyProblem[];
  /** Whether index.json disagreed with the markers (it is rewritten when repairing). */
  indexStale: boolean;
  /** Shards whose markers were removed by repair, so that the next `genview generate` rewrites them. */
  repaired: number[];
}

export interface ShardRange {
  start: number;
  end: number;
}

type ShardFiles = Map<string, Uint8Array>;

function backendOf(location: StoreLocation): StoreBackend {
  return typeof location === 'string' ? new LocalStoreBackend(location) : location;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function formatValue(value: unknown): string {
  return JSON.stringify(value);
}

function mismatchError(backend: StoreBackend, differences: MetaDifference[]): GenviewError {
  const stored = differences.map((d) => `${d.field} = ${formatValue(d.stored)}`).join(', ');
  const requested = differences.map((d) => `${d.field} = ${formatValue(d.requested)}`).join(', ');
  return new GenviewError('INVALID_CONFIG', `this view store was made with ${stored}, but this run asks for ${requested}.`, {
    where: `${backend.describe(META_KEY)} (${differences.map((d) => d.field).join(', ')})`,
    fix:
      'write the views to a new directory, or rerun with --overwrite to delete this store and generate it again ' +
      '(a store can only be resumed with the same dataset, image count, views per image, shard size, image shape and generator config).',
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A directory of K generated views per dataset image, in tar shards that are written whole, in any
 * order, by any number of processes, and that a killed run resumes by writing only the shards without
 * a completion marker.
 */
export class ViewStore {
  readonly backend: StoreBackend;
  readonly meta: StoreMeta;
  readonly shardCount: number;
  private readonly markers = new Map<number, ShardMarker>();
  /** Promises, so that concurrent reads of one shard share a single load. */
  private readonly cache = new Map<number, Promise<ShardFiles>>();
  private readonly cacheShards: number;
  private readonly tempGraceMs: number;
  private readonly events?: EventBus;
  /** The damaged index.json content already warned about, so one damage gives one warning. */
  private warnedIndex?: string;
  /** Opened to write (openOrCreate, create, or a writeShard): a damaged index is rebuilt now rather than later. */
  private writing = false;

  private constructor(backend: StoreBackend, meta: StoreMeta, options: ViewStoreOptions) {
    this.backend = backend;
    this.meta = meta;
    this.shardCount = numShards(meta);
    this.cacheShards = Math.max(1, options.cacheShards ?? DEFAULT_CACHE_SHARDS);
    this.tempGraceMs = options.tempGraceMs ?? DEFAULT_TEMP_GRACE_MS;
    this.events = options.events;
  }

  get location(): string {
    return this.backend.location;
  }

  /** Makes a new, empty store; fails when one already exists there. */
  static async create(location: StoreLocation, meta: StoreMetaInput, options: ViewStoreOptions = {}): Promise<ViewStore> {
    const backend = backendOf(location);
    const parsed = parseStoreMeta(meta, backend.describe(META_KEY), 'pass a complete meta: dataset, count, viewsPerImage, shardSize, imageShape, generator.');
    if (!(await backend.writeIfAbsent(META_KEY, `${stableStringify(parsed)}\n`))) {
      throw new GenviewError('INVALID_CONFIG', 'a view store already exists here.', {
        where: backend.location,
        fix: 'open it with ViewStore.open or openOrCreate to resume it, choose a new directory, or use --overwrite to replace it.',
      });
    }
    const store = new ViewStore(backend, parsed, options);
    store.writing = true;
    await store.refresh();
    return store;
  }

  /** Opens an existing store for reading (or writing) with the meta it was created with. */
  static async open(location: StoreLocation, options: ViewStoreOptions = {}): Promise<ViewStore> {
    const backend = backendOf(location);
    const meta = await readMeta(backend);
    if (meta === null) {
      throw new GenviewError('NOT_FOUND', `there is no view store here (${META_KEY} is missing).`, {
        where: backend.location,
        fix: 'run `genview generate` to build the store, or point dir at the folder it wrote.',
      });
    }
    const store = new ViewStore(backend, meta, options);
    await store.refresh();
    return store;
  }

  /**
   * What `genview generate` calls: creates the store, or reopens it to resume after checking that it
   * holds the same kind of views. Also clears temporaries of dead writers and repairs a stale index.
   */
  static async openOrCreate(location: StoreLocation, meta: StoreMetaInput, options: OpenOrCreateOptions = {}): Promise<ViewStore> {
    const backend = backendOf(location);
    const requested = parseStoreMeta(meta, backend.describe(META_KEY), 'pass a complete meta: dataset, count, viewsPerImage, shardSize, imageShape, generator.');
    if (options.overwrite) await ViewStore.destroy(backend);
    let store: ViewStore;
    // Creating store.json writes a temporary first even when it exists; a resume on a full disk must not fail on that.
    if (!(await backend.exists(META_KEY)) && (await backend.writeIfAbsent(META_KEY, `${stableStringify(requested)}\n`))) {
      store = new ViewStore(backend, requested, options);
    } else {
      const stored = await readMeta(backend);
      if (stored === null) throw new GenviewError('INTERNAL', `${META_KEY} vanished while opening the store.`, { where: backend.location });
      const differences = metaDifferences(stored, requested);
      if (differences.length > 0) throw mismatchError(backend, differences);
      store = new ViewStore(backend, stored, options);
    }
    store.writing = true;
    await store.cleanup();
    await store.syncIndex();
    return store;
  }

  /**
   * Deletes a store's files (and only those: the directory may hold other things). Markers go first,
   * so that a store interrupted half-way through deletion has no shard that still counts as complete.
   */
  static async destroy(location: StoreLocation): Promise<void> {
    const backend = backendOf(location);
    for (const name of await backend.list(DONE_PREFIX)) await backend.remove(`${DONE_PREFIX}/${name}`);
    await backend.remove(INDEX_KEY);
    for (const name of await backend.list(SHARDS_PREFIX)) await backend.remove(`${SHARDS_PREFIX}/${name}`);
    await backend.remove(META_KEY);
  }

  shardRange(shard: number): ShardRange {
    this.checkShard(shard);
    const start = shard * this.meta.shardSize;
    return { start, end: Math.min(start + this.meta.shardSize, this.meta.count) };
  }

  shardOf(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.meta.count) {
      throw new GenviewError('BAD_INPUT', `image index ${index} is outside the store's 0..${this.meta.count - 1}.`, {
        where: this.location,
        fix: `the store was built for a dataset of ${this.meta.count} images; use indices of that dataset.`,
      });
    }
    return Math.floor(index / this.meta.shardSize);
  }

  /** Complete shards as of the last refresh (or this store's own writes), ascending. */
  completedShards(): number[] {
    return [...this.markers.keys()].sort((a, b) => a - b);
  }

  /** Shards still to write, ascending, as of the last refresh (or this store's own writes). */
  pendingShards(): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.shardCount; s++) if (!this.markers.has(s)) out.push(s);
    return out;
  }

  isComplete(): boolean {
    return this.markers.size === this.shardCount;
  }

  /** Picks up shards that other processes completed (or that a repair un-completed) since opening. */
  async refresh(): Promise<void> {
    await this.refreshListing();
  }

  /** Shards with a marker in done/, as listed. */
  private async listMarkers(): Promise<Set<number>> {
    const listed = new Set<number>();
    for (const name of await this.backend.list(DONE_PREFIX)) {
      const shard = shardOfMarker(name);
      if (shard !== null) listed.add(shard);
    }
    return listed;
  }

  /** Returns the listing it worked from, markers that do not fit this store's layout included. */
  private async refreshListing(): Promise<Set<number>> {
    const listed = await this.listMarkers();
    for (const shard of [...this.markers.keys()]) if (!listed.has(shard)) this.forget(shard);
    let unknown = [...listed].filter((s) => !this.markers.has(s));
    if (unknown.length === 0) return listed;
    // One read of the summary usually saves reading every marker (many requests on an object store).
    const summary = await this.readIndex();
    for (const marker of summary?.shards ?? []) {
      if (listed.has(marker.shard) && !this.markers.has(marker.shard) && this.fitsLayout(marker)) this.markers.set(marker.shard, marker);
    }
    unknown = unknown.filter((s) => !this.markers.has(s));
    const read = await mapLimit(unknown, IO_CONCURRENCY, (s) => this.readMarker(s));
    for (const marker of read) if (marker && this.fitsLayout(marker)) this.markers.set(marker.shard, marker);
    return listed;
  }

  /** Removes temporaries that killed writers left behind; returns their keys. */
  async cleanup(): Promise<string[]> {
    const removed: string[] = [];
    for (const prefix of ['', SHARDS_PREFIX, DONE_PREFIX]) removed.push(...(await this.backend.removeStaleTemporaries(prefix, this.tempGraceMs)));
    return removed;
  }

  /**
   * Stores the views of one shard: exactly K views for each image index of the shard, nothing else.
   * Safe to call from several processes at once for the same shard; see the note at the top.
   */
  async writeShard(shard: number, views: readonly ViewToStore[]): Promise<WriteShardResult> {
    const { start, end } = this.shardRange(shard);
    const ordered = this.checkViews(shard, start, end, views);
    const K = this.meta.viewsPerImage;
    const pngs = await mapLimit(ordered, IO_CONCURRENCY, (view) => encodePng(view.pixels, this.meta.imageShape));
    const entries: TarEntry[] = [];
    const encoder = new TextEncoder();
    ordered.forEach((view, i) => {
      entries.push({ name: entryName(view.index, view.k, 'png'), data: pngs[i] });
      const json = stableStringify({ index: view.index, k: view.k, seed: view.params.seed, params: view.params });
      entries.push({ name: entryName(view.index, view.k, 'json'), data: encoder.encode(`${json}\n`) });
    });
    const bytes = writeTar(entries);
    const mine: ShardMarker = { shard, start, end, entries: 2 * K * (end - start), bytes: bytes.length, sha256: sha256Hex(bytes) };

    this.writing = true;
    const existing = await this.readMarker(shard);
    if (existing && this.fitsLayout(existing)) {
      this.markers.set(shard, existing);
      return { shard, outcome: 'already-complete', identical: existing.sha256 === mine.sha256, marker: existing };
    }
    await this.backend.writeAtomic(shardKey(shard), bytes);
    await this.backend.writeAtomic(markerKey(shard), `${stableStringify(mine)}\n`);
    const settled = await this.settleMarker(shard, mine);
    this.cache.delete(shard);
    this.markers.set(shard, settled);
    await this.syncIndex();
    const identical = settled.sha256 === mine.sha256;
    return { shard, outcome: identical ? 'written' : 'superseded', identical, marker: settled };
  }

  /** One stored view; loads (and caches) its shard on first use. */
  async readView(index: number, k: number): Promise<StoredView> {
    const shard = this.shardOf(index);
    if (!Number.isInteger(k) || k < 0 || k >= this.meta.viewsPerImage) {
      throw new GenviewError('BAD_INPUT', `view ${k} does not exist: the store holds views 0..${this.meta.viewsPerImage - 1} per image.`, {
        where: this.location,
      });
    }
    const files = await this.loadShard(shard, index);
    const where = `${this.backend.describe(shardKey(shard))} member ${entryName(index, k, 'png')}`;
    const png = files.get(entryName(index, k, 'png'));
    const json = files.get(entryName(index, k, 'json'));
    if (!png || !json) {
      throw new GenviewError('UNREADABLE_FILE', `the shard lacks view ${k} of image ${index}.`, {
        where,
        fix: `the shard is damaged; ${this.repairAdvice()}`,
      });
    }
    const pixels = await decodePng(png, this.meta.imageShape, where, `the shard is damaged; ${this.repairAdvice()}`);
    const record = JSON.parse(new TextDecoder().decode(json)) as { params: GenerationParams };
    return { index, k, pixels, shape: [...this.meta.imageShape] as ImageShape, params: record.params };
  }

  /**
   * Re-reads every marker and shard, recomputing sha256 and checking members against the layout.
   * With repair, the markers of bad shards are removed so that the next `genview generate` rewrites
   * them, and a stale index.json is rebuilt.
   */
  async verify(options: { repair?: boolean } = {}): Promise<VerifyReport> {
    const problems: VerifyProblem[] = [];
    const names = await this.backend.list(DONE_PREFIX);
    const shards = names.map(shardOfMarker).filter((s): s is number => s !== null);
    const checks = await mapLimit(shards, 4, async (shard): Promise<{ shard: number; marker: ShardMarker | null; problem?: string }> => {
      let marker: ShardMarker | null;
      try {
        marker = await this.readMarker(shard);
      } catch (error) {
        return { shard, marker: null, problem: (error as Error).message };
      }
      if (!marker) return { shard, marker: null };
      if (shard >= this.shardCount || !this.fitsLayout(marker)) {
        return { shard, marker, problem: `marker ${formatValue(marker)} does not match the store layout (${this.shardCount} shards of ${this.meta.shardSize} images, K = ${this.meta.viewsPerImage}).` };
      }
      const bytes = await this.backend.read(shardKey(shard));
      if (!bytes) return { shard, marker, problem: `marked complete but ${this.backend.describe(shardKey(shard))} is missing.` };
      const sha = sha256Hex(bytes);
      if (sha !== marker.sha256) return { shard, marker, problem: `sha256 is ${sha}, the marker says ${marker.sha256}.` };
      try {
        this.checkMembers(shard, readTar(bytes, { where: this.backend.describe(shardKey(shard)) }));
      } catch (error) {
        return { shard, marker, problem: (error as Error).message };
      }
      return { shard, marker };
    });
    const good: ShardMarker[] = [];
    for (const check of checks) {
      if (check.problem !== undefined) problems.push({ shard: check.shard, problem: check.problem });
      else if (check.marker) good.push(check.marker);
    }
    const expectedIndex = this.indexText(good);
    const currentIndex = await this.backend.read(INDEX_KEY);
    const indexStale = currentIndex === null || new TextDecoder().decode(currentIndex) !== expectedIndex;
    const repaired: number[] = [];
    if (options.repair) {
      for (const { shard } of problems) {
        await this.backend.remove(markerKey(shard));
        repaired.push(shard);
      }
      await this.refresh();
      await this.syncIndex();
    }
    return { ok: problems.length === 0 && !indexStale, checked: checks.length, totalShards: this.shardCount, problems, indexStale, repaired };
  }

  /** Forgets parsed shards held for readView. */
  clearCache(): void {
    this.cache.clear();
  }

  /** Rebuilds index.json from the markers until a listing after the write finds no new marker. */
  async syncIndex(): Promise<void> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const before = await this.refreshListing();
      const text = this.indexText([...this.markers.values()]);
      const current = await this.backend.read(INDEX_KEY);
      if (current === null || !sameBytes(current, new TextEncoder().encode(text))) {
        if (current !== null) {
          const found = parseIndex(new TextDecoder().decode(current));
          if ('problem' in found) this.warnDamagedIndex(new TextDecoder().decode(current), found.problem);
        }
        try {
          await this.backend.writeAtomic(INDEX_KEY, text);
        } catch (error) {
          // The summary is optional (readers trust the markers alone), so a full disk must not stop a run over it.
          this.events?.log('view-store', `could not update ${this.backend.describe(INDEX_KEY)} (${(error as Error).message}); the markers in done/ stay the record and the next writer rebuilds it.`, 'warn');
          return;
        }
      }
      const after = await this.listMarkers();
      if ([...after].every((s) => before.has(s))) return;
    }
    // Writers are still finishing shards; the last of them rewrites the index, and the markers stay the truth meanwhile.
  }

  private indexText(markers: ShardMarker[]): string {
    const index: StoreIndex = { version: STORE_VERSION, shards: [...markers].sort((a, b) => a.shard - b.shard) };
    return `${stableStringify(index)}\n`;
  }

  private async readIndex(): Promise<StoreIndex | null> {
    const bytes = await this.backend.read(INDEX_KEY);
    if (!bytes) return null;
    const text = new TextDecoder().decode(bytes);
    const parsed = parseIndex(text);
    if ('index' in parsed) return parsed.index;
    // A damaged summary costs only the marker reads it would have saved.
    this.warnDamagedIndex(text, parsed.problem);
    return null;
  }

  /** One warning per damaged content of index.json: it is derived from the markers, so the store rebuilds it, but says so. */
  private warnDamagedIndex(text: string, problem: string): void {
    if (this.warnedIndex === text) return;
    this.warnedIndex = text;
    const then = this.writing ? 'rebuilds it from them' : 'it is rebuilt by the next `genview generate` or `genview verify --repair`';
    this.events?.log(
      'view-store',
      `${this.backend.describe(INDEX_KEY)} is damaged (${problem}); it only summarises the markers in ${this.backend.describe(DONE_PREFIX)}, so the store reads those instead and ${then}.`,
      'warn',
    );
  }

  private async readMarker(shard: number): Promise<ShardMarker | null> {
    const bytes = await this.backend.read(markerKey(shard));
    if (!bytes) return null;
    return parseMarker(new TextDecoder().decode(bytes), this.backend.describe(markerKey(shard)));
  }

  /**
   * After publishing a shard and its marker, makes the marker describe the tar that is actually there.
   * Two writers of one shard with different bytes (a non-deterministic generator) can interleave as
   * tar A, tar B, marker B, marker A; every writer repeats "read tar, read marker, rewrite the marker
   * from the tar if they disagree" until they agree, so the last check in the store always passes.
   * Identical writers agree on the first pass.
   */
  private async settleMarker(shard: number, mine: ShardMarker): Promise<ShardMarker> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const bytes = await this.backend.read(shardKey(shard));
      if (!bytes) {
        throw new GenviewError('INTERNAL', `shard ${shard} disappeared right after it was written.`, {
          where: this.backend.describe(shardKey(shard)),
          fix: 'another process deleted the store (--overwrite?) while this one wrote to it; run one generator per store directory at a time with --overwrite.',
        });
      }
      const sha = sha256Hex(bytes);
      const onDisk = await this.readMarker(shard);
      if (onDisk && onDisk.sha256 === sha && onDisk.bytes === bytes.length) return onDisk;
      await this.backend.writeAtomic(markerKey(shard), `${stableStringify({ ...mine, bytes: bytes.length, sha256: sha })}\n`);
    }
    throw new GenviewError('INTERNAL', `shard ${shard} kept changing while it was written.`, {
      where: this.backend.describe(shardKey(shard)),
      fix: 'more than one process keeps rewriting this shard with different content; stop the duplicates and run `genview generate` again.',
    });
  }

  private loadShard(shard: number, index: number): Promise<ShardFiles> {
    const cached = this.cache.get(shard);
    if (cached) {
      this.cache.delete(shard);
      this.cache.set(shard, cached);
      return cached;
    }
    const loading = this.fetchShard(shard, index);
    this.cache.set(shard, loading);
    while (this.cache.size > this.cacheShards) this.cache.delete(this.cache.keys().next().value as number);
    loading.catch(() => {
      if (this.cache.get(shard) === loading) this.cache.delete(shard);
    });
    return loading;
  }

  private async fetchShard(shard: number, index: number): Promise<ShardFiles> {
    if (!this.markers.has(shard)) await this.refresh();
    if (!this.markers.has(shard)) throw this.missingShard(shard, index);
    const key = shardKey(shard);
    const where = this.backend.describe(key);
    const bytes = await this.backend.read(key);
    const fix = this.repairAdvice();
    if (!bytes) throw new GenviewError('UNREADABLE_FILE', 'the shard is marked complete but its file is missing.', { where, fix });
    const sha = sha256Hex(bytes);
    if (sha !== this.markers.get(shard)?.sha256) {
      // Another process may have settled a concurrent rewrite since this store read the marker.
      const fresh = await this.readMarker(shard);
      if (fresh) this.markers.set(shard, fresh);
      if (fresh?.sha256 !== sha) {
        throw new GenviewError('UNREADABLE_FILE', `the shard's sha256 ${sha} differs from its completion marker's ${fresh?.sha256 ?? '(none)'}.`, { where, fix });
      }
    }
    const entries = readTar(bytes, { where, fix });
    this.checkMembers(shard, entries);
    return new Map(entries.map((e) => [e.name, e.data]));
  }

  private checkMembers(shard: number, entries: TarEntry[]): void {
    const { start, end } = this.shardRange(shard);
    const expected = new Set<string>();
    for (let i = start; i < end; i++) {
      for (let k = 0; k < this.meta.viewsPerImage; k++) {
        expected.add(entryName(i, k, 'png'));
        expected.add(entryName(i, k, 'json'));
      }
    }
    const unexpected = entries.filter((e) => !expected.delete(e.name)).map((e) => e.name);
    if (unexpected.length > 0 || expected.size > 0) {
      const missing = [...expected];
      throw new GenviewError('UNREADABLE_FILE', `shard ${shard} does not hold the expected members: missing ${missing.slice(0, 4).join(', ') || 'none'}${missing.length > 4 ? ` and ${missing.length - 4} more` : ''}; unexpected ${unexpected.slice(0, 4).join(', ') || 'none'}.`, {
        where: this.backend.describe(shardKey(shard)),
        fix: this.repairAdvice(),
      });
    }
  }

  /** The way out of a damaged shard: un-mark it, then let generate write it again. */
  private repairAdvice(): string {
    return `run \`genview verify ${this.location} --repair\` (it un-marks the damaged shards; ViewStore.verify({ repair: true }) does the same in code), then \`genview generate\` with the same config, which rewrites exactly those shards.`;
  }

  private missingShard(shard: number, index: number): GenviewError {
    const { start, end } = this.shardRange(shard);
    return new GenviewError(
      'NOT_FOUND',
      `the view store has no shard ${shard} (images ${start}..${end - 1}, needed for image ${index}): ${this.markers.size} of ${this.shardCount} shards are complete.`,
      {
        where: this.backend.describe(shardKey(shard)),
        fix: `run \`genview generate\` to complete the store in ${this.location}; it resumes and writes only the missing shards.`,
      },
    );
  }

  /** A marker only counts when it describes a shard of this store's layout (leftovers of another store do not). */
  private fitsLayout(marker: ShardMarker): boolean {
    if (marker.shard >= this.shardCount) return false;
    const start = marker.shard * this.meta.shardSize;
    const end = Math.min(start + this.meta.shardSize, this.meta.count);
    return marker.start === start && marker.end === end && marker.entries === 2 * this.meta.viewsPerImage * (end - start);
  }

  private forget(shard: number): void {
    this.markers.delete(shard);
    this.cache.delete(shard);
  }

  private checkShard(shard: number): void {
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.shardCount) {
      throw new GenviewError('BAD_INPUT', `shard ${shard} does not exist: the store has shards 0..${this.shardCount - 1}.`, { where: this.location });
    }
  }

  /** The views in member order (index, then k), after checking that they are exactly the shard's K views per image. */
  private checkViews(shard: number, start: number, end: number, views: readonly ViewToStore[]): ViewToStore[] {
    const K = this.meta.viewsPerImage;
    const [h, w, c] = this.meta.imageShape;
    const where = `${this.location} shard ${shard}`;
    const fail: (problem: string, fix: string) => never = (problem, fix) => {
      throw new GenviewError('BAD_INPUT', problem, { where, fix });
    };
    const slots = new Array<ViewToStore | undefined>((end - start) * K);
    for (const view of views) {
      if (!Number.isInteger(view.index) || view.index < start || view.index >= end) {
        fail(`view of image ${view.index} does not belong to shard ${shard} (images ${start}..${end - 1}).`, 'write each view into the shard shardRange() gives for its index.');
      }
      if (!Number.isInteger(view.k) || view.k < 0 || view.k >= K) fail(`view k = ${view.k} of image ${view.index} is outside 0..${K - 1}.`, `the store holds viewsPerImage = ${K} views per image.`);
      if (!(view.pixels instanceof Uint8Array) || view.pixels.length !== h * w * c) {
        fail(
          `view ${view.k} of image ${view.index} must be a Uint8Array of ${h}x${w}x${c} = ${h * w * c} bytes (HWC), got ${view.pixels?.length ?? 'none'}.`,
          'convert the generated image to uint8 HWC at the store image shape (scale [0, 1] floats by 255 and round).',
        );
      }
      if (typeof view.params !== 'object' || view.params === null || !Number.isFinite(view.params.seed)) {
        fail(`view ${view.k} of image ${view.index} needs its GenerationParams with a numeric seed.`, 'pass the params the generator was called with.');
      }
      const slot = (view.index - start) * K + view.k;
      if (slots[slot]) fail(`view ${view.k} of image ${view.index} is given twice.`, 'pass each (index, k) exactly once.');
      slots[slot] = view;
    }
    const missing: string[] = [];
    for (let i = 0; i < slots.length; i++) {
      if (!slots[i]) missing.push(`(${start + Math.floor(i / K)}, k${i % K})`);
    }
    if (missing.length > 0) {
      fail(
        `shard ${shard} needs ${K} views for each of images ${start}..${end - 1} (${slots.length} views); ${missing.length} are missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}.`,
        'generate every view of the shard before writing it; shards are written whole.',
      );
    }
    return slots as ViewToStore[];
  }
}

async function readMeta(backend: StoreBackend): Promise<StoreMeta | null> {
  const bytes = await backend.read(META_KEY);
  if (!bytes) return null;
  const where = backend.describe(META_KEY);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new GenviewError('UNREADABLE_FILE', `${META_KEY} is not valid JSON.`, { where, fix: 'restore it, or delete the store (--overwrite) and generate it again.' });
  }
  const version = (value as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version !== STORE_VERSION) {
    throw new GenviewError('INVALID_CONFIG', `the store has layout version ${version}; this GenView reads version ${STORE_VERSION}.`, {
      where,
      fix: version > STORE_VERSION ? 'upgrade @genview/views.' : 'regenerate the store with this version (--overwrite or a new directory).',
    });
  }
  return parseStoreMeta(value, where, 'restore store.json, or delete the store (--overwrite) and generate it again.');
}
