import { type FileHandle, open } from 'node:fs/promises';
import { type EventBus, GenviewError, type TarMember, indexTarFile } from '@genview/core';

export const IMAGE_EXTS = ['jpg', 'jpeg', 'png'];
const FIELD_EXTS = ['cls', 'txt', 'json'];
export const SAMPLE_LAYOUT = 'a WebDataset shard is a tar of samples {key}.{ext}: one .jpg/.jpeg/.png image each, with an optional .cls (integer label), .txt (caption) and .json (label/caption fields)';

export interface ShardIndexOptions {
  labelField: string;
  captionField: string;
  /** Extensions (after the key's first dot, lower case) passed over. */
  ignore: readonly string[];
  /** Stop after this many samples. */
  limit?: number;
  where: string;
  events: EventBus;
}

/** What is known of a sample without decoding its image. */
export type Label = number | string;

/** All samples of all shards, in shard then first-appearance order; images stay in the shards. */
export interface ShardIndex {
  shards: string[];
  /** Per sample: its shard, image data offset and byte length, and `shard:member` for messages. */
  shard: Int32Array;
  offset: Float64Array;
  size: Int32Array;
  member: string[];
  labels: (Label | undefined)[];
  captions: (string | undefined)[];
}

interface Pending {
  key: string;
  image?: TarMember;
  fields: Map<string, TarMember>;
}

/** webdataset's rule: the key is everything before the first dot of the base name; the rest is the extension. */
function splitName(name: string): { key: string; ext: string } | undefined {
  const slash = name.lastIndexOf('/');
  const base = name.slice(slash + 1);
  const dot = base.indexOf('.');
  if (dot <= 0) return dot === 0 ? undefined : { key: name, ext: '' };
  return { key: name.slice(0, slash + 1 + dot), ext: base.slice(dot + 1).toLowerCase() };
}

async function readText(handle: FileHandle, member: TarMember): Promise<string> {
  const buffer = Buffer.alloc(member.size);
  const { bytesRead } = await handle.read(buffer, 0, member.size, member.offset);
  return buffer.subarray(0, bytesRead).toString('utf8');
}

async function fieldsOf(handle: FileHandle, shard: string, sample: Pending, options: ShardIndexOptions): Promise<{ label?: Label; caption?: string }> {
  const bad = (member: TarMember, problem: string, fix: string): never => {
    throw new GenviewError('BAD_INPUT', `${shard}: member ${member.name} (byte ${member.headerOffset}) ${problem}`, { where: shard, fix });
  };
  const out: { label?: Label; caption?: string } = {};
  const json = sample.fields.get('json');
  if (json) {
    let value: unknown;
    try {
      value = JSON.parse(await readText(handle, json));
    } catch (error) {
      bad(json, `is not JSON: ${(error as Error).message}`, `write one JSON object per sample, e.g. {"${options.captionField}": "a dog", "${options.labelField}": 3}.`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(json, 'is not a JSON object.', `write an object such as {"${options.captionField}": "a dog"}.`);
    const record = value as Record<string, unknown>;
    const label = record[options.labelField];
    if (label !== undefined) {
      if (!(typeof label === 'string' && label !== '') && !(Number.isInteger(label) && (label as number) >= 0)) {
        bad(json, `has ${options.labelField}: ${JSON.stringify(label)}; expected a non-negative integer class id or a class name.`, `fix the field, or set labelField to the field that holds the class.`);
      }
      out.label = label as Label;
    }
    const caption = record[options.captionField];
    if (caption !== undefined) {
      if (typeof caption !== 'string' || caption.trim() === '') bad(json, `has ${options.captionField}: ${JSON.stringify(caption)}; expected a non-empty string.`, 'fix the field, or set captionField to the field that holds the caption.');
      out.caption = caption as string;
    }
  }
  const cls = sample.fields.get('cls');
  if (cls) {
    const text = (await readText(handle, cls)).trim();
    if (!/^\d+$/.test(text)) bad(cls, `holds ${JSON.stringify(text.slice(0, 40))}, not an integer class id.`, 'a .cls member holds one non-negative integer in decimal (e.g. "3"); class names go in a .json field.');
    out.label = Number(text);
  }
  const txt = sample.fields.get('txt');
  if (txt) {
    const text = (await readText(handle, txt)).trim();
    if (text === '') bad(txt, 'is an empty caption.', 'write the caption in the .txt member, or remove it.');
    out.caption = text;
  }
  return out;
}

/** Groups one shard's members into samples (by key, in order of first appearance), checking each. */
function samplesOf(shard: string, members: TarMember[], options: ShardIndexOptions): Pending[] {
  const byKey = new Map<string, Pending>();
  for (const member of members) {
    const parts = splitName(member.name);
    if (!parts) continue; // hidden files (._foo from macOS tar) carry no sample
    const { key, ext } = parts;
    if (options.ignore.includes(ext)) continue;
    if (!IMAGE_EXTS.includes(ext) && !FIELD_EXTS.includes(ext)) {
      throw new GenviewError(
        'BAD_INPUT',
        `${shard}: member ${member.name} (byte ${member.headerOffset}) has ${ext ? `the unsupported extension .${ext}` : 'no extension'}; ${SAMPLE_LAYOUT}.`,
        { where: shard, fix: `convert the images to PNG or JPEG, or list the extension in ${options.where}.ignore${ext ? ` (ignore: [${ext}])` : ''} to pass over such members.` },
      );
    }
    let sample = byKey.get(key);
    if (!sample) {
      sample = { key, fields: new Map() };
      byKey.set(key, sample);
    }
    const slot = IMAGE_EXTS.includes(ext) ? 'image' : ext;
    const taken = slot === 'image' ? sample.image : sample.fields.get(slot);
    if (taken) {
      throw new GenviewError('BAD_INPUT', `${shard}: sample ${key} has two ${slot === 'image' ? 'images' : `.${slot} members`} (${taken.name} and ${member.name}).`, {
        where: shard,
        fix: 'give each sample one image and at most one member of each other extension.',
      });
    }
    if (slot === 'image') sample.image = member;
    else sample.fields.set(slot, member);
  }
  return [...byKey.values()];
}

/** Scans the headers of every shard (no image bytes read) and reads the small label/caption members. */
export async function indexShards(shards: readonly string[], options: ShardIndexOptions): Promise<ShardIndex> {
  const index: ShardIndex = { shards: [...shards], shard: new Int32Array(0), offset: new Float64Array(0), size: new Int32Array(0), member: [], labels: [], captions: [] };
  const shardOf: number[] = [];
  const offsets: number[] = [];
  const sizes: number[] = [];
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const fix = `the shard is incomplete (a copy or download cut short?) or not a tar file; recreate it, or drop it from ${options.where}.shards.`;
  for (let s = 0; s < shards.length && index.member.length < limit; s++) {
    const shard = shards[s];
    const samples = samplesOf(shard, await indexTarFile(shard, { fix }), options);
    const handle = await open(shard, 'r');
    try {
      for (const sample of samples) {
        if (index.member.length >= limit) break;
        if (!sample.image) {
          const members = [...sample.fields.values()].map((m) => m.name).join(', ');
          throw new GenviewError('BAD_INPUT', `${shard}: sample ${sample.key} has no image (members: ${members}); ${SAMPLE_LAYOUT}.`, {
            where: shard,
            fix: `add ${sample.key}.jpg or ${sample.key}.png to the shard, or remove the sample's other members.`,
          });
        }
        const { label, caption } = await fieldsOf(handle, shard, sample, options);
        shardOf.push(s);
        offsets.push(sample.image.offset);
        sizes.push(sample.image.size);
        index.member.push(sample.image.name);
        index.labels.push(label);
        index.captions.push(caption);
      }
    } finally {
      await handle.close();
    }
    options.events.emit('progress', { task: `webdataset: indexing ${shards.length} shard(s)`, done: s + 1, total: shards.length, unit: 'shards' });
  }
  index.shard = Int32Array.from(shardOf);
  index.offset = Float64Array.from(offsets);
  index.size = Int32Array.from(sizes);
  return index;
}
