import { definePlugin, z } from '@genview/core';
import { decodeFileRow } from './images/decoded-files';
import { StreamingImageDataset } from './images/streaming-images';
import { readImageTextManifest } from './manifest/image-text-manifest';
import { DATASETS_PACKAGE } from './package-name';

const NAME = 'image-text';
const dimension = z.number().int().positive();

export const imageTextSchema = z
  .object({
    file: z.string().min(1).describe('manifest: a .csv with a header row, or a .jsonl of one object per line'),
    format: z.enum(['csv', 'jsonl']).optional().describe('default: from the file extension'),
    root: z.string().min(1).optional().describe("folder image paths are relative to (default: the manifest's folder)"),
    pathColumn: z.string().min(1).default('path'),
    captionColumn: z.string().min(1).default('caption'),
    labelColumn: z.string().min(1).optional().describe('optional class column: labels for kNN/zero-shot evaluation, classes sorted by name'),
    size: z.union([dimension, z.tuple([dimension, dimension])]).describe('decoded image size: one number (square) or [height, width]'),
    channels: z.union([z.literal(1), z.literal(3)]).default(3),
    fit: z.enum(['cover', 'fill', 'contain']).default('cover'),
    limit: z.number().int().positive().optional().describe('use only the first N records'),
    cacheSize: z.number().int().nonnegative().default(4096).describe('decoded images kept in memory (LRU); images are decoded on demand'),
    concurrency: z.number().int().positive().default(4).describe('images decoded at once'),
  })
  .strict();

export type ImageTextConfig = z.output<typeof imageTextSchema>;

/**
 * Image-caption pairs from a CSV/JSONL manifest (CLIP and SLIP on real photos): captions in memory,
 * images decoded on demand with a bounded cache. Every batch carries its rows' captions.
 */
export function loadImageText(config: ImageTextConfig, where = NAME): StreamingImageDataset {
  const records = readImageTextManifest(config.file, {
    columns: { path: config.pathColumn, caption: config.captionColumn, label: config.labelColumn },
    root: config.root,
    format: config.format,
    where,
  }).slice(0, config.limit);
  const [height, width] = typeof config.size === 'number' ? [config.size, config.size] : config.size;
  const classNames = config.labelColumn ? [...new Set(records.map((r) => r.label as string))].sort() : undefined;
  const labels = classNames ? Int32Array.from(records, (r) => classNames.indexOf(r.label as string)) : undefined;
  return new StreamingImageDataset({
    name: `${NAME}:${config.file}`,
    count: records.length,
    imageShape: [height, width, config.channels],
    decodeRow: decodeFileRow(
      records.map((r) => r.path),
      { height, width, channels: config.channels, fit: config.fit },
      where,
    ),
    cacheSize: config.cacheSize,
    concurrency: config.concurrency,
    captions: records.map((r) => r.caption),
    labels,
    classNames,
  });
}

export const imageTextPlugin = definePlugin({
  kind: 'dataset',
  name: NAME,
  package: DATASETS_PACKAGE,
  description: 'Image-caption pairs from a CSV or JSONL manifest of (path, caption[, label]), decoded on demand with sharp: CLIP/SLIP on real images.',
  configSchema: imageTextSchema,
  create: (config, context) => loadImageText(config, context.path),
});
