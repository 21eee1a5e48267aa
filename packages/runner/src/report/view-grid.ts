import { resolve } from 'node:path';
import { GenviewError, type GenerationParams } from '@genview/core';
import { ViewStore } from '@genview/views';
import { pngDataUrl } from './thumbnail';

export interface ViewCell {
  k: number;
  /** data:image/png;base64,... */
  src: string;
  params: GenerationParams;
}

export interface ViewGridRow {
  /** The source image's index in the store's dataset. */
  index: number;
  /** Ordered by noise level (then by k), so a row reads from faithful to free variations. */
  cells: ViewCell[];
}

export interface ViewGridData {
  name: string;
  dir: string;
  dataset: string;
  generator: string;
  imageShape: [number, number, number];
  viewsPerImage: number;
  imageCount: number;
  completeShards: number;
  shardCount: number;
  rows: ViewGridRow[];
}

function order(a: ViewCell, b: ViewCell): number {
  const la = a.params.noiseLevel ?? a.params.strength ?? Number.POSITIVE_INFINITY;
  const lb = b.params.noiseLevel ?? b.params.strength ?? Number.POSITIVE_INFINITY;
  return la === lb ? a.k - b.k : la < lb ? -1 : 1;
}

/** The first `images` source images of the store's complete shards, each with all of its views. */
export async function readViewGrid(entry: { name: string; dir: string; images: number }, baseDir: string): Promise<ViewGridData> {
  const store = await ViewStore.open(resolve(baseDir, entry.dir));
  const { meta } = store;
  const indices: number[] = [];
  for (const shard of store.completedShards()) {
    const { start, end } = store.shardRange(shard);
    for (let i = start; i < end && indices.length < entry.images; i++) indices.push(i);
    if (indices.length >= entry.images) break;
  }
  if (indices.length === 0) {
    throw new GenviewError('NOT_FOUND', `view store "${entry.name}" has no complete shard yet (0 of ${store.shardCount}).`, {
      where: entry.dir,
      fix: `let \`genview generate\` finish at least one shard of ${entry.dir}, or remove it from viewStores.`,
    });
  }
  const [height, width, channels] = meta.imageShape;
  const rows: ViewGridRow[] = [];
  for (const index of indices) {
    const cells: ViewCell[] = [];
    for (let k = 0; k < meta.viewsPerImage; k++) {
      const view = await store.readView(index, k);
      cells.push({ k, src: await pngDataUrl(view.pixels, width, height, channels), params: view.params });
    }
    rows.push({ index, cells: cells.sort(order) });
  }
  return {
    name: entry.name,
    dir: entry.dir,
    dataset: meta.dataset,
    generator: meta.generator.name,
    imageShape: [height, width, channels],
    viewsPerImage: meta.viewsPerImage,
    imageCount: meta.count,
    completeShards: store.completedShards().length,
    shardCount: store.shardCount,
    rows,
  };
}
