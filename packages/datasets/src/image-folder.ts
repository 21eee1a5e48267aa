import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { GenviewError, type PluginContext, definePlugin, z } from '@genview/core';
import { loadSharp } from './images/decode';
import { decodeFileRow } from './images/decoded-files';
import { StreamingImageDataset, type StreamingImagesOptions } from './images/streaming-images';
import { DATASETS_PACKAGE, FORMER_DATASET_PACKAGES } from './package-name';

const NAME = 'image-folder';

/** Formats sharp (libvips) decodes in its prebuilt binaries. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif', '.svg'];

const dimension = z.number().int().positive();

export const imageFolderSchema = z
  .object({
    dir: z.string().min(1).describe('root folder'),
    size: z.union([dimension, z.tuple([dimension, dimension])]).describe('decoded image size: one number (square) or [height, width]'),
    channels: z.union([z.literal(1), z.literal(3)]).default(3).describe('1 = grayscale (luma), 3 = RGB'),
    labels: z
      .enum(['auto', 'folders', 'none'])
      .default('auto')
      .describe('folders: each subfolder of dir is a class (its files found recursively); none: every image under dir, unlabelled; auto: folders when dir has subfolders'),
    fit: z.enum(['cover', 'fill', 'contain']).default('cover').describe('cover: scale and centre-crop to size; fill: stretch; contain: letterbox on black'),
    limit: z.number().int().positive().optional().describe('use only the first N images (in sorted path order)'),
    concurrency: z.number().int().positive().default(4).describe('images decoded at once'),
    cacheSize: z.number().int().nonnegative().default(4096).describe('decoded images kept in memory (LRU); images are decoded on demand, the next batch prefetched'),
    check: z
      .enum(['header', 'none'])
      .default('header')
      .describe('header: read each file header at load time (no pixels) and skip files that are not images; none: list files only (a bad file fails the batch that reads it)'),
  })
  .strict();

export type ImageFolderConfig = z.output<typeof imageFolderSchema>;

export interface SkippedFile {
  path: string;
  reason: string;
}

/** An image-folder dataset, decoded on demand, that also reports what it left out. */
export class ImageFolderDataset extends StreamingImageDataset {
  constructor(
    options: StreamingImagesOptions,
    /** Files found but not loaded, with why (corrupt, unreadable, not an image, outside any class folder). */
    readonly skipped: SkippedFile[],
    /** Path of each row, relative to dir. */
    readonly files: string[],
  ) {
    super(options);
  }
}

interface Candidate {
  path: string;
  label?: number;
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

async function entries(dir: string): Promise<Dirent[]> {
  // Sorted by code units, not locale, so every machine gets the same row order and class ids.
  return (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.')).sort((a, b) => byCodeUnits(a.name, b.name));
}

async function isDirectory(dir: string, entry: Dirent): Promise<boolean> {
  if (entry.isDirectory()) return true;
  if (!entry.isSymbolicLink()) return false;
  try {
    return (await stat(join(dir, entry.name))).isDirectory();
  } catch {
    return false;
  }
}

async function walk(dir: string, label: number | undefined, out: Candidate[], skipped: SkippedFile[]): Promise<void> {
  for (const entry of await entries(dir)) {
    const path = join(dir, entry.name);
    if (await isDirectory(dir, entry)) await walk(path, label, out, skipped);
    else if (IMAGE_EXTENSIONS.includes(extname(entry.name).toLowerCase())) out.push({ path, label });
    else skipped.push({ path, reason: `not an image file (extensions read: ${IMAGE_EXTENSIONS.join(' ')})` });
  }
}

export async function loadImageFolder(config: ImageFolderConfig, context: Pick<PluginContext, 'events' | 'path'>): Promise<ImageFolderDataset> {
  const where = context.path;
  const root = config.dir;
  let rootEntries: Dirent[];
  try {
    rootEntries = await entries(root);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new GenviewError(code === 'ENOENT' ? 'NOT_FOUND' : 'UNREADABLE_FILE', `cannot read the folder ${root}: ${(error as Error).message}`, {
      where: `${where}.dir`,
      fix: 'set dir to an existing folder of images (class subfolders for labelled data, or images directly for unlabelled).',
      cause: error,
    });
  }
  const subfolders: string[] = [];
  for (const entry of rootEntries) if (await isDirectory(root, entry)) subfolders.push(entry.name);
  const labelled = config.labels === 'folders' || (config.labels === 'auto' && subfolders.length > 0);

  const candidates: Candidate[] = [];
  const skipped: SkippedFile[] = [];
  let classNames: string[] | undefined;
  if (labelled) {
    classNames = subfolders;
    for (const entry of rootEntries) {
      if (!subfolders.includes(entry.name)) skipped.push({ path: join(root, entry.name), reason: 'not inside a class subfolder (labels come from subfolder names)' });
    }
    for (let label = 0; label < subfolders.length; label++) await walk(join(root, subfolders[label]), label, candidates, skipped);
  } else {
    await walk(root, undefined, candidates, skipped);
  }
  const chosen = config.limit === undefined ? candidates : candidates.slice(0, config.limit);

  const [h, w] = typeof config.size === 'number' ? [config.size, config.size] : config.size;
  const decodeOptions = { height: h, width: w, channels: config.channels, fit: config.fit };
  const readable = config.check === 'header' ? await checkHeaders(chosen, config.concurrency, skipped, { where, task: `${NAME}: checking ${root}`, events: context.events }) : chosen;
  skipped.sort((a, b) => byCodeUnits(a.path, b.path));
  if (skipped.length > 0) {
    const shown = skipped.slice(0, 5).map((s) => `${s.path} (${s.reason})`);
    const more = skipped.length > shown.length ? `; and ${skipped.length - shown.length} more (see dataset.skipped)` : '';
    context.events.log(NAME, `skipped ${skipped.length} file(s) under ${root}: ${shown.join('; ')}${more}`, 'warn');
  }
  if (readable.length === 0) {
    throw new GenviewError('EMPTY_DATASET', `no readable images under ${root}${skipped.length ? ` (${skipped.length} file(s) skipped: ${skipped.slice(0, 3).map((s) => `${s.path}: ${s.reason}`).join('; ')})` : ''}.`, {
      where: `${where}.dir`,
      fix: `put ${IMAGE_EXTENSIONS.join('/')} images in ${root} (in class subfolders for labelled data), or point dir at the folder that holds them.`,
    });
  }
  const paths = readable.map((c) => c.path);
  return new ImageFolderDataset(
    {
      name: `${NAME}:${root}`,
      count: readable.length,
      imageShape: [h, w, config.channels],
      decodeRow: decodeFileRow(paths, decodeOptions, where, `replace or remove the file, or set ${where}.check: header so that files whose header does not read are skipped at load time.`),
      cacheSize: config.cacheSize,
      concurrency: config.concurrency,
      ...(labelled ? { labels: Int32Array.from(readable, (r) => r.label ?? 0), classNames } : {}),
    },
    skipped,
    paths.map((p) => relative(root, p)),
  );
}

/**
 * Reads only each file's header (format and size, no pixels) so that files that are not images are
 * skipped at load time, as the eager loader did, without holding any decoded image. A file whose
 * header reads but whose data is damaged still fails the batch that decodes it, naming the file.
 */
async function checkHeaders(
  candidates: Candidate[],
  concurrency: number,
  skipped: SkippedFile[],
  report: { where: string; task: string; events: PluginContext['events'] },
): Promise<Candidate[]> {
  if (candidates.length === 0) return candidates;
  const sharp = await loadSharp(report.where);
  const ok = new Array<boolean>(candidates.length).fill(false);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < candidates.length) {
      const i = next++;
      try {
        const meta = await sharp(candidates[i].path, { failOn: 'error' }).metadata();
        if (!meta.width || !meta.height) throw new Error('the header gives no image size');
        ok[i] = true;
      } catch (error) {
        skipped.push({ path: candidates[i].path, reason: `cannot decode: ${(error as Error).message.split('\n')[0]}` });
      }
      done++;
      if (done % 1024 === 0 || done === candidates.length) report.events.emit('progress', { task: report.task, done, total: candidates.length, unit: 'files' });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, candidates.length) }, worker));
  return candidates.filter((_, i) => ok[i]);
}

export const imageFolderPlugin = definePlugin({
  kind: 'dataset',
  name: NAME,
  package: DATASETS_PACKAGE,
  formerPackages: FORMER_DATASET_PACKAGES,
  description: 'Images from a folder (class subfolders, or flat and unlabelled), decoded and resized with sharp on demand (bounded LRU cache, next batch prefetched); files that are not images are skipped and listed.',
  configSchema: imageFolderSchema,
  create: (config, context) => loadImageFolder(config, context),
});
