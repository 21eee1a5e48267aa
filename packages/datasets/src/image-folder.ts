import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';
import { GenviewError, type PluginContext, definePlugin, z } from '@genview/core';
import { decodeImage, loadSharp } from './images/decode';
import { InMemoryDataset } from './in-memory';
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
  })
  .strict();

export type ImageFolderConfig = z.output<typeof imageFolderSchema>;

export interface SkippedFile {
  path: string;
  reason: string;
}

/** An image-folder dataset also reports what it left out. */
export class ImageFolderDataset extends InMemoryDataset {
  constructor(
    pixels: Uint8Array,
    shape: [number, number, number, number],
    options: { name: string; labels?: Int32Array; classNames?: string[] },
    /** Files found but not loaded, with why (corrupt, unreadable, not an image, outside any class folder). */
    readonly skipped: SkippedFile[],
    /** Path of each row, relative to dir. */
    readonly files: string[],
  ) {
    super(pixels, shape, options);
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
  const rowLength = h * w * config.channels;
  const decoded: (Uint8Array | null)[] = new Array(chosen.length).fill(null);
  if (chosen.length > 0) {
    const sharp = await loadSharp(where);
    let next = 0;
    let done = 0;
    const task = `${NAME}: decoding ${root}`;
    const worker = async () => {
      while (next < chosen.length) {
        const i = next++;
        try {
          decoded[i] = await decodeImage(sharp, chosen[i].path, { height: h, width: w, channels: config.channels, fit: config.fit });
        } catch (error) {
          skipped.push({ path: chosen[i].path, reason: `cannot decode: ${(error as Error).message.split('\n')[0]}` });
        }
        done++;
        if (done % 256 === 0 || done === chosen.length) context.events.emit('progress', { task, done, total: chosen.length, unit: 'images' });
      }
    };
    await Promise.all(Array.from({ length: Math.min(config.concurrency, chosen.length) }, worker));
  }

  const rows = chosen.map((c, i) => ({ ...c, pixels: decoded[i] })).filter((r): r is Candidate & { pixels: Uint8Array } => r.pixels !== null);
  skipped.sort((a, b) => byCodeUnits(a.path, b.path));
  if (skipped.length > 0) {
    const shown = skipped.slice(0, 5).map((s) => `${s.path} (${s.reason})`);
    const more = skipped.length > shown.length ? `; and ${skipped.length - shown.length} more (see dataset.skipped)` : '';
    context.events.log(NAME, `skipped ${skipped.length} file(s) under ${root}: ${shown.join('; ')}${more}`, 'warn');
  }
  if (rows.length === 0) {
    throw new GenviewError('EMPTY_DATASET', `no readable images under ${root}${skipped.length ? ` (${skipped.length} file(s) skipped: ${skipped.slice(0, 3).map((s) => `${s.path}: ${s.reason}`).join('; ')})` : ''}.`, {
      where: `${where}.dir`,
      fix: `put ${IMAGE_EXTENSIONS.join('/')} images in ${root} (in class subfolders for labelled data), or point dir at the folder that holds them.`,
    });
  }
  const pixels = new Uint8Array(rows.length * rowLength);
  for (let i = 0; i < rows.length; i++) pixels.set(rows[i].pixels, i * rowLength);
  const labels = labelled ? Int32Array.from(rows, (r) => r.label ?? 0) : undefined;
  return new ImageFolderDataset(
    pixels,
    [rows.length, h, w, config.channels],
    { name: `${NAME}:${root}`, labels, classNames },
    skipped,
    rows.map((r) => relative(root, r.path)),
  );
}

export const imageFolderPlugin = definePlugin({
  kind: 'dataset',
  name: NAME,
  package: DATASETS_PACKAGE,
  formerPackages: FORMER_DATASET_PACKAGES,
  description: 'Images from a folder (class subfolders, or flat and unlabelled), decoded and resized with sharp into memory; unreadable files are skipped and listed.',
  configSchema: imageFolderSchema,
  create: (config, context) => loadImageFolder(config, context),
});
