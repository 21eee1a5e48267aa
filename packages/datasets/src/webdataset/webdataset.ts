import { open, stat } from 'node:fs/promises';
import { GenviewError, type PluginContext, definePlugin, z } from '@genview/core';
import { decodeImage, loadSharp } from '../images/decode';
import { StreamingImageDataset } from '../images/streaming-images';
import { DATASETS_PACKAGE } from '../package-name';
import { expandBraces } from './braces';
import { type ShardIndex, indexShards } from './shard-index';

const NAME = 'webdataset';
const dimension = z.number().int().positive();
const extension = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]*$/)
  .describe('an extension after the key, lower case, without the leading dot (npy, seg.png)');

export const webDatasetSchema = z
  .object({
    shards: z
      .union([z.string().min(1), z.array(z.string().min(1)).nonempty()])
      .describe('tar shard paths or brace patterns: data/train-{000..009}.tar, {a,b}.tar (or a list of them)'),
    size: z.union([dimension, z.tuple([dimension, dimension])]).describe('decoded image size: one number (square) or [height, width]'),
    channels: z.union([z.literal(1), z.literal(3)]).default(3),
    fit: z.enum(['cover', 'fill', 'contain']).default('cover'),
    labels: z.enum(['auto', 'none']).default('auto').describe('auto: labels from .cls (or the .json labelField) when samples have them (then every sample must); none: unlabelled'),
    captions: z.enum(['auto', 'none']).default('auto').describe('auto: captions from .txt (or the .json captionField) when samples have them (then every sample must); none: no captions'),
    labelField: z.string().min(1).default('label').describe('.json field with the class: an integer id or a class name'),
    captionField: z.string().min(1).default('caption').describe('.json field with the caption'),
    classNames: z.array(z.string().min(1)).nonempty().optional().describe('names of integer class ids 0..K-1 (zero-shot evaluation needs them)'),
    ignore: z.array(extension).default([]).describe('member extensions to pass over (any other extension besides jpg/jpeg/png/cls/txt/json is an error)'),
    limit: z.number().int().positive().optional().describe('use only the first N samples (in shard order)'),
    cacheSize: z.number().int().nonnegative().default(4096).describe('decoded images kept in memory (LRU); images are decoded on demand'),
    concurrency: z.number().int().positive().default(4).describe('images decoded at once'),
  })
  .strict();

export type WebDatasetConfig = z.output<typeof webDatasetSchema>;

/** Expands the patterns and checks that every shard exists, naming the missing ones and their pattern. */
async function shardPaths(shards: string | readonly string[], where: string): Promise<string[]> {
  const patterns = typeof shards === 'string' ? [shards] : shards;
  const out: string[] = [];
  for (const pattern of patterns) {
    const paths = expandBraces(pattern, `${where}.shards`);
    const missing: string[] = [];
    for (const path of paths) {
      const info = await stat(path).catch(() => undefined);
      if (!info) missing.push(path);
      else if (!info.isFile()) {
        throw new GenviewError('UNREADABLE_FILE', `shard ${path} (from ${pattern}) is not a file.`, { where: `${where}.shards`, fix: 'name .tar files, not folders.' });
      }
    }
    if (missing.length > 0) {
      const from = paths.length > 1 || paths[0] !== pattern ? ` (pattern ${pattern} gives ${paths.length} shard(s))` : '';
      throw new GenviewError('NOT_FOUND', `${missing.length} shard(s) not found${from}: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? `, and ${missing.length - 5} more` : ''}.`, {
        where: `${where}.shards`,
        fix: 'check the folder and the pattern\'s range (relative paths are from the current directory); write shards with e.g. `node tools/make-webdataset-shards.mjs`.',
      });
    }
    out.push(...paths);
  }
  return out;
}

function labelsOf(index: ShardIndex, config: WebDatasetConfig, where: string): { labels?: Int32Array; classNames?: string[] } {
  if (config.labels === 'none' || index.labels.every((l) => l === undefined)) return {};
  const at = index.labels.indexOf(undefined);
  const named = (i: number) => `${index.shards[index.shard[i]]}: ${index.member[i]}`;
  if (at !== -1) {
    throw new GenviewError('BAD_INPUT', `sample ${named(at)} has no label (no .cls, no "${config.labelField}" in its .json) while other samples have one.`, {
      where: `${where}.shards`,
      fix: `label every sample, or set ${where}.labels: none to train without labels.`,
    });
  }
  const kinds = new Set(index.labels.map((l) => typeof l));
  if (kinds.size > 1) {
    const i = index.labels.findIndex((l) => typeof l !== typeof index.labels[0]);
    throw new GenviewError('BAD_INPUT', `labels mix class ids and class names (e.g. ${JSON.stringify(index.labels[0])} and ${JSON.stringify(index.labels[i])} at ${named(i)}).`, {
      where: `${where}.shards`,
      fix: 'use integer ids everywhere (names in classNames) or names everywhere.',
    });
  }
  if (kinds.has('string')) {
    const classNames = [...new Set(index.labels as string[])].sort();
    const id = new Map(classNames.map((name, i) => [name, i]));
    return { labels: Int32Array.from(index.labels as string[], (l) => id.get(l) as number), classNames };
  }
  const labels = Int32Array.from(index.labels as number[]);
  const names = config.classNames;
  if (names) {
    const i = labels.findIndex((l) => l >= names.length);
    if (i !== -1) {
      throw new GenviewError('BAD_INPUT', `sample ${named(i)} has label ${labels[i]}, but classNames names ${names.length} classes.`, {
        where: `${where}.classNames`,
        fix: 'list one name per class id 0..K-1.',
      });
    }
  }
  return { labels, ...(names ? { classNames: [...names] } : {}) };
}

function captionsOf(index: ShardIndex, config: WebDatasetConfig, where: string): string[] | undefined {
  if (config.captions === 'none' || index.captions.every((c) => c === undefined)) return undefined;
  const at = index.captions.indexOf(undefined);
  if (at !== -1) {
    throw new GenviewError('BAD_INPUT', `sample ${index.shards[index.shard[at]]}: ${index.member[at]} has no caption (no .txt, no "${config.captionField}" in its .json) while other samples have one.`, {
      where: `${where}.shards`,
      fix: `caption every sample, or set ${where}.captions: none.`,
    });
  }
  return index.captions as string[];
}

/** Reads one sample's image bytes from its shard (a positioned read) and decodes them. */
function decodeShardRow(index: ShardIndex, config: WebDatasetConfig, where: string, height: number, width: number): (row: number) => Promise<Uint8Array> {
  return async (row) => {
    const shard = index.shards[index.shard[row]];
    const offset = index.offset[row];
    const size = index.size[row];
    const member = index.member[row];
    const handle = await open(shard, 'r');
    let bytes: Buffer;
    try {
      bytes = Buffer.alloc(size);
      const { bytesRead } = await handle.read(bytes, 0, size, offset);
      if (bytesRead !== size) {
        throw new GenviewError('UNREADABLE_FILE', `${shard}: member ${member} (${size} bytes at byte ${offset}) reads only ${bytesRead} bytes: the shard changed or was cut short after it was indexed.`, {
          where: shard,
          fix: 'do not rewrite shards while a run reads them; recreate the shard and start again.',
        });
      }
    } finally {
      await handle.close();
    }
    const sharp = await loadSharp(where);
    try {
      return await decodeImage(sharp, bytes, { height, width, channels: config.channels, fit: config.fit });
    } catch (error) {
      throw new GenviewError('UNREADABLE_FILE', `${shard}: cannot decode member ${member} (sample ${row}, ${size} bytes at byte ${offset}): ${(error as Error).message.split('\n')[0]}`, {
        where: shard,
        fix: 'replace the image in the shard (PNG or JPEG), or rewrite the shard without that sample.',
        cause: error,
      });
    }
  };
}

/**
 * WebDataset tar shards ({key}.jpg/.png + .cls/.txt/.json per sample), local paths or brace patterns.
 * Loading scans the shards' headers (and reads the small label/caption members); images stay in the
 * shards and are decoded on demand through the same bounded cache and prefetch as `image-folder`.
 */
export async function loadWebDataset(config: WebDatasetConfig, context: Pick<PluginContext, 'events' | 'path'>): Promise<StreamingImageDataset> {
  const where = context.path;
  const shards = await shardPaths(config.shards, where);
  const index = await indexShards(shards, {
    labelField: config.labelField,
    captionField: config.captionField,
    ignore: config.ignore,
    limit: config.limit,
    where,
    events: context.events,
  });
  const pattern = typeof config.shards === 'string' ? config.shards : config.shards.join(', ');
  if (index.member.length === 0) {
    throw new GenviewError('EMPTY_DATASET', `the ${shards.length} shard(s) of ${pattern} hold no samples.`, {
      where: `${where}.shards`,
      fix: 'point shards at tar files of {key}.jpg/.png (+ .cls/.txt/.json) members.',
    });
  }
  const [height, width] = typeof config.size === 'number' ? [config.size, config.size] : config.size;
  const { labels, classNames } = labelsOf(index, config, where);
  const captions = captionsOf(index, config, where);
  return new StreamingImageDataset({
    name: `${NAME}:${pattern}`,
    count: index.member.length,
    imageShape: [height, width, config.channels],
    decodeRow: decodeShardRow(index, config, where, height, width),
    cacheSize: config.cacheSize,
    concurrency: config.concurrency,
    ...(labels ? { labels } : {}),
    ...(classNames ? { classNames } : {}),
    ...(captions ? { captions } : {}),
  });
}

export const webDatasetPlugin = definePlugin({
  kind: 'dataset',
  name: NAME,
  package: DATASETS_PACKAGE,
  description: 'WebDataset tar shards ({key}.jpg/.png + .cls/.txt/.json), local paths or brace patterns; indexed by header scan, images decoded on demand with a bounded cache.',
  configSchema: webDatasetSchema,
  create: (config, context) => loadWebDataset(config, context),
});
