// GenView++'s image-text quality term under a controlled test: npm run experiment:quality-captions
//
// Captioned Fashion-MNIST images (the real images, and their generated views from a store when GV_STORE
// names one) are paired with their own caption, except for a known share of pairs whose captions are
// shuffled among themselves (a derangement: no shuffled pair keeps its own caption). The frozen tiny CLIP
// (onnx:tiny-clip) scores each pair as GenView++ does: alignment cos(view, caption), and the full image-text
// logit alignment − cos(view background, real background) (backgrounds from the same tower's patch tokens
// under the foreground direction GV_DIRECTION). Reported: ROC AUC matched vs shuffled, overall and for the
// shuffled captions that name another class. Writes <GV_OUT>/captions.json and captions.md.
// Knobs: GV_OUT (runs/quality-controlled), GV_TRAIN (1500), GV_SHUFFLED (0.25), GV_STORE (<GV_OUT>/views-p0),
// GV_DIRECTION (<GV_OUT>/foreground-clip.safetensors).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EventBus, Rng, l2Normalize, selectBackend, tf } from '@genview/core';
import { fashionMnistPlugin } from '@genview/datasets';
import { tinyClipPath } from '@genview/model-tiny-unclip';
import { loadForegroundDirection, poolForegroundBackground } from '@genview/quality';
import { OnnxClipModel, OnnxPatchEncoder, ViewStore } from '@genview/views';
import { env } from './cli.mjs';

const out = resolve(env('GV_OUT', 'runs/quality-controlled'));
const count = Number(env('GV_TRAIN', 1500));
const shuffledShare = Number(env('GV_SHUFFLED', 0.25));
const storeDir = env('GV_STORE', join(out, 'views-p0'));
const directionFile = env('GV_DIRECTION', join(out, 'foreground-clip.safetensors'));
mkdirSync(out, { recursive: true });

const rocAuc = (positive, negative) => {
  const all = [...positive.map((s) => [s, 1]), ...negative.map((s) => [s, 0])].sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j][0] === all[i][0]) j++;
    for (let k = i; k < j; k++) if (all[k][1] === 1) rankSum += (i + j + 1) / 2;
    i = j;
  }
  return (rankSum - (positive.length * (positive.length + 1)) / 2) / (positive.length * negative.length);
};

await selectBackend({ events: new EventBus() });
const dataset = await fashionMnistPlugin.create({ split: 'train', limit: count, captions: true }, { rng: new Rng(0), events: new EventBus(), path: 'data.train' });
const labels = dataset.labels;
const captions = dataset.captions;
// A known share of pairs, chosen and deranged by a fixed seed: a cyclic shift over the chosen indices.
const rng = new Rng(7);
const chosen = Array.from({ length: count }, (_, i) => i).filter(() => rng.float() < shuffledShare);
const given = captions.slice();
for (const [j, i] of chosen.entries()) given[i] = captions[chosen[(j + 1) % chosen.length]];
const shuffled = new Array(count).fill(false);
const otherClass = new Array(count).fill(false);
for (const [j, i] of chosen.entries()) {
  shuffled[i] = true;
  otherClass[i] = labels[chosen[(j + 1) % chosen.length]] !== labels[i];
}

const clip = await OnnxClipModel.load(tinyClipPath, { threads: 1 });
const tower = await OnnxPatchEncoder.load(tinyClipPath, { threads: 1 });
const direction = existsSync(directionFile) ? await loadForegroundDirection(directionFile) : undefined;
const store = existsSync(join(storeDir, 'store.json')) ? await ViewStore.open(storeDir) : undefined;
const backgrounds = async (images) => {
  const tokens = await tower.patchTokens(images);
  const bg = tf.tidy(() => l2Normalize(poolForegroundBackground(tokens, direction, 'captions').background));
  tokens.dispose();
  return bg;
};

const kinds = { real: { alignment: [], full: [] }, ...(store ? { generated: { alignment: [], full: [] } } : {}) };
const batch = 250;
for (let start = 0; start < count; start += batch) {
  const indices = Int32Array.from({ length: Math.min(batch, count - start) }, (_, i) => start + i);
  const real = (await dataset.read(indices)).images;
  const texts = await clip.embedTexts(Array.from(indices, (i) => given[i]));
  const realBg = direction ? await backgrounds(real) : undefined;
  const views = { real };
  if (store) {
    const pixels = [];
    for (const i of indices) pixels.push(...Array.from((await store.readView(i, 0)).pixels, (p) => p / 255));
    views.generated = tf.tensor4d(Float32Array.from(pixels), real.shape);
  }
  for (const [kind, images] of Object.entries(views)) {
    const embedded = await clip.embedImages(images);
    const aligned = tf.tidy(() => tf.sum(tf.mul(embedded, texts), 1));
    kinds[kind].alignment.push(...aligned.dataSync());
    if (direction) {
      const viewBg = await backgrounds(images);
      const full = tf.tidy(() => tf.sub(aligned, tf.sum(tf.mul(viewBg, realBg), 1)));
      kinds[kind].full.push(...full.dataSync());
      tf.dispose([viewBg, full]);
    }
    tf.dispose([embedded, aligned]);
  }
  tf.dispose([texts, ...Object.values(views), ...(realBg ? [realBg] : [])]);
}
await clip.dispose();
await tower.dispose();

const result = { pairs: count, shuffled: chosen.length, shuffledOtherClass: otherClass.filter(Boolean).length, auc: {} };
const lines = ['| views | term | AUC matched vs shuffled | AUC matched vs shuffled to another class |', '|---|---|---|---|'];
for (const [kind, terms] of Object.entries(kinds)) {
  for (const [term, values] of Object.entries(terms)) {
    if (values.length === 0) continue;
    const matched = values.filter((_, i) => !shuffled[i]);
    const auc = rocAuc(matched, values.filter((_, i) => shuffled[i]));
    const aucOther = rocAuc(matched, values.filter((_, i) => otherClass[i]));
    result.auc[`${kind} ${term}`] = { all: auc, otherClass: aucOther };
    lines.push(`| ${kind} | ${term === 'alignment' ? 'cos(view, caption)' : 'cos(view, caption) − cos(view bg, real bg)'} | ${auc.toFixed(3)} | ${aucOther.toFixed(3)} |`);
  }
}
const table = `${lines.join('\n')}\n\n${count} captioned Fashion-MNIST training images, ${chosen.length} captions shuffled (${result.shuffledOtherClass} of them name another class); frozen model onnx:tiny-clip.\n`;
writeFileSync(join(out, 'captions.json'), `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(join(out, 'captions.md'), table);
console.log(table);
