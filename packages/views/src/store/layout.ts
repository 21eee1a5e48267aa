import { createHash } from 'node:crypto';
import { GenviewError, z } from '@genview/core';

/**
 * Where everything lives in a view store, and the small JSON documents it keeps:
 *
 *   store.json                 what the store holds (StoreMeta); fixed once created
 *   shards/shard-000000.tar    images [0, shardSize): per image i and view k, 000000.k0.png + 000000.k0.json
 *   done/shard-000000.json     one marker per completed shard (ShardMarker): the source of truth
 *   index.json                 every marker in one file (StoreIndex), derived from done/
 */

export const STORE_VERSION = 1;
export const META_KEY = 'store.json';
export const INDEX_KEY = 'index.json';
export const SHARDS_PREFIX = 'shards';
export const DONE_PREFIX = 'done';

function pad(n: number): string {
  return String(n).padStart(6, '0');
}

export function shardKey(shard: number): string {
  return `${SHARDS_PREFIX}/shard-${pad(shard)}.tar`;
}

export function markerKey(shard: number): string {
  return `${DONE_PREFIX}/shard-${pad(shard)}.json`;
}

/** The shard number a marker's file name stands for, or null for anything else in done/. */
export function shardOfMarker(name: string): number | null {
  const match = /^shard-(\d{6,})\.json$/.exec(name);
  return match ? Number(match[1]) : null;
}

/**
 * WebDataset groups tar members into samples by the name up to the first dot, so each image is one
 * sample ("000123") whose K views are its fields ("k0.png", "k0.json", ...).
 */
export function entryName(index: number, k: number, ext: 'png' | 'json'): string {
  return `${pad(index)}.k${k}.${ext}`;
}

/** JSON with object keys sorted at every level, so that equal values always give equal bytes. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key];
    return sorted;
  });
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A short fingerprint of a generator config: two runs may share a store only when these agree. */
export function configHash(config: unknown): string {
  return sha256Hex(stableStringify(config ?? null)).slice(0, 16);
}

const positiveInt = z.number().int().positive();

export const storeMetaSchema = z
  .object({
    version: z.literal(STORE_VERSION).default(STORE_VERSION),
    dataset: z.string().min(1).describe('name of the dataset the views were generated from'),
    count: positiveInt.describe('number of dataset images'),
    viewsPerImage: positiveInt.describe('K, generated views per image'),
    shardSize: positiveInt.describe('images per shard'),
    imageShape: z
      .tuple([positiveInt, positiveInt, positiveInt])
      .refine((shape) => shape[2] === 1 || shape[2] === 3, { message: 'channels (the last of [H, W, C]) must be 1 or 3' })
      .describe('[height, width, channels] of every stored view'),
    generator: z.object({ name: z.string().min(1), configHash: z.string().min(1) }).strict(),
    user: z.record(z.string(), z.unknown()).optional().describe('free-form; not compared when a store is reopened'),
  })
  .strict();

export type StoreMetaInput = z.input<typeof storeMetaSchema>;
export type StoreMeta = z.output<typeof storeMetaSchema>;

export function parseStoreMeta(value: unknown, where: string, fix: string): StoreMeta {
  const parsed = storeMetaSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new GenviewError('INVALID_CONFIG', `invalid view store meta: ${issues}.`, { where, fix });
  }
  return parsed.data;
}

/** The fields that decide what a store holds; the user's free-form meta is left out on purpose. */
const COMPARED: ReadonlyArray<[string, (m: StoreMeta) => unknown]> = [
  ['version', (m) => m.version],
  ['dataset', (m) => m.dataset],
  ['count', (m) => m.count],
  ['viewsPerImage', (m) => m.viewsPerImage],
  ['shardSize', (m) => m.shardSize],
  ['imageShape', (m) => m.imageShape],
  ['generator.name', (m) => m.generator.name],
  ['generator.configHash', (m) => m.generator.configHash],
];

export interface MetaDifference {
  field: string;
  stored: unknown;
  requested: unknown;
}

export function metaDifferences(stored: StoreMeta, requested: StoreMeta): MetaDifference[] {
  const out: MetaDifference[] = [];
  for (const [field, get] of COMPARED) {
    const a = get(stored);
    const b = get(requested);
    if (stableStringify(a) !== stableStringify(b)) out.push({ field, stored: a, requested: b });
  }
  return out;
}

export function numShards(meta: Pick<StoreMeta, 'count' | 'shardSize'>): number {
  return Math.ceil(meta.count / meta.shardSize);
}

/** Written once a shard's tar is in place; its presence is what "this shard is complete" means. */
export interface ShardMarker {
  shard: number;
  /** First image index in the shard. */
  start: number;
  /** One past the last image index. */
  end: number;
  /** Tar members: a PNG and a JSON per view. */
  entries: number;
  bytes: number;
  sha256: string;
}

const markerSchema = z
  .object({
    shard: z.number().int().nonnegative(),
    start: z.number().int().nonnegative(),
    end: z.number().int().positive(),
    entries: z.number().int().positive(),
    bytes: z.number().int().positive(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

export function parseMarker(text: string, where: string): ShardMarker {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const parsed = markerSchema.safeParse(value);
  if (!parsed.success) {
    throw new GenviewError('UNREADABLE_FILE', 'the shard completion marker is not valid JSON of the expected form.', {
      where,
      fix: 'delete this marker file; the shard then counts as missing and `genview generate` rewrites it.',
    });
  }
  return parsed.data;
}

export interface StoreIndex {
  version: number;
  shards: ShardMarker[];
}

const indexSchema = z.object({ version: z.number().int(), shards: z.array(markerSchema) }).strict();

/** index.json's summary, or what is wrong with it (it is derived from done/, so the fix is always to rebuild it). */
export function parseIndex(text: string): { index: StoreIndex } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `it is not JSON (${(error as Error).message})` };
  }
  const parsed = indexSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { problem: `it is not a store index (${issue?.path.join('.') || '(root)'}: ${issue?.message})` };
  }
  return { index: parsed.data };
}
