// Writes the embedded Fashion-MNIST (from @genview/data-fashion-mnist) as WebDataset tar shards, the
// layout the `webdataset` dataset reads: per sample {key}.png (28x28 grey), {key}.cls (class id) and
// {key}.txt (the fashion-mnist captions: "a photo of a sandal", ...), `--shards` shards per split,
// named {split}-000.tar ... so that `{split}-{000..009}.tar` names them all.
//
//   node tools/make-webdataset-shards.mjs                       data/fashion-mnist-wds/{train,test}-{000..009}.tar
//   node tools/make-webdataset-shards.mjs --limit 2000          the first 2,000 images of each split (a quick run)
//   node tools/make-webdataset-shards.mjs --out shards --shards 4
//
// Needs the built packages (npx nx run-many -t build --projects=@genview/datasets).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EventBus, Registry, Rng, selectBackend, writeTar } from '@genview/core';
import { plugins } from '@genview/datasets';
import sharp from 'sharp';

const { values: opts } = parseArgs({
  options: {
    out: { type: 'string', default: 'data/fashion-mnist-wds' },
    shards: { type: 'string', default: '10' },
    limit: { type: 'string' },
    splits: { type: 'string', default: 'train,test' },
  },
});

// Batches come as tensors; the reference CPU rung is all that copying pixels out needs.
await selectBackend({ force: 'cpu' });
const registry = new Registry().register(plugins);
const shardCount = Number(opts.shards);
if (!(Number.isInteger(shardCount) && shardCount > 0 && shardCount <= 1000)) throw new Error(`--shards must be an integer in 1..1000, got ${opts.shards}`);
const encoder = new TextEncoder();
mkdirSync(opts.out, { recursive: true });

for (const split of opts.splits.split(',')) {
  const config = { name: 'fashion-mnist', split, captions: true, ...(opts.limit ? { limit: Number(opts.limit) } : {}) };
  const data = await registry.create('dataset', config, { rng: new Rng(0), events: new EventBus(), path: 'fashion-mnist' });
  const [h, w, c] = data.info.imageShape;
  const n = data.info.size;
  const perShard = Math.ceil(n / shardCount);
  for (let s = 0; s < shardCount; s++) {
    const rows = Array.from({ length: Math.max(0, Math.min(n, (s + 1) * perShard) - s * perShard) }, (_, i) => s * perShard + i);
    const entries = [];
    if (rows.length > 0) {
      const batch = await data.read(rows);
      const px = batch.images.dataSync();
      batch.images.dispose();
      for (let i = 0; i < rows.length; i++) {
        const key = `${split}-${String(rows[i]).padStart(6, '0')}`;
        const pixels = Uint8Array.from(px.subarray(i * h * w * c, (i + 1) * h * w * c), (v) => Math.round(v * 255));
        entries.push({ name: `${key}.png`, data: new Uint8Array(await sharp(pixels, { raw: { width: w, height: h, channels: c } }).png().toBuffer()) });
        entries.push({ name: `${key}.cls`, data: encoder.encode(String(batch.labels[i])) });
        entries.push({ name: `${key}.txt`, data: encoder.encode(batch.captions[i]) });
      }
    }
    writeFileSync(join(opts.out, `${split}-${String(s).padStart(3, '0')}.tar`), writeTar(entries));
  }
  console.log(`${split}: ${n} samples in ${shardCount} shards -> ${join(opts.out, `${split}-{${'0'.padStart(3, '0')}..${String(shardCount - 1).padStart(3, '0')}}.tar`)}`);
}
