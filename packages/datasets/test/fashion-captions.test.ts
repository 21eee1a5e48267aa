import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EventBus, Registry, Rng } from '@genview/core';
import { describe, expect, it } from 'vitest';
import { fashionTemplateFor, fillFashionTemplate, measureFashionImage } from '../src/fashion-captions';
import { FASHION_CAPTION_TEMPLATES, FASHION_CLASS_WORDS, fashionCaptions, plugins } from '../src/index';

const registry = new Registry().register(plugins);
const context = () => ({ rng: new Rng(0), events: new EventBus(), path: 'dataset' });

/** A Python list of string literals assigned to `name` in the diffusion model's data.py. */
function pythonList(source: string, name: string): string[] {
  const m = new RegExp(`^${name} = \\[(.*)\\]$`, 'm').exec(source);
  expect(m, name).not.toBeNull();
  return [...(m as RegExpExecArray)[1]!.matchAll(/'([^']*)'/g)].map((x) => x[1]!);
}

const ADJECTIVE_CHOICES = [[], ['small'], ['large']].flatMap((size) => [[], ['dark'], ['bright']].map((tone) => [...size, ...tone]));

describe('fashion-mnist captions', () => {
  it("use exactly the diffusion model's class words and templates", () => {
    const source = readFileSync(fileURLToPath(new URL('../../../tools/diffusion/tiny_unclip/data.py', import.meta.url)), 'utf8');
    expect([...FASHION_CLASS_WORDS]).toEqual(pythonList(source, 'CLASS_WORDS'));
    expect([...FASHION_CAPTION_TEMPLATES]).toEqual(pythonList(source, 'TEMPLATES'));
  });

  it('puts measured adjectives before the noun, and before "grey" where the template has it', () => {
    expect(fillFashionTemplate('a grey {}', 'coat', ['large', 'dark'])).toBe('a large dark grey coat');
    expect(fillFashionTemplate('a {} on a black background', 'bag', ['small'])).toBe('a small bag on a black background');
    expect(fillFashionTemplate('a photo of a {}', 'ankle boot', [])).toBe('a photo of a ankle boot');
    const m = measureFashionImage(Uint8Array.from([9, 0, 30, 255, 10, 0]), 1, 4);
    expect(m.coverage).toBe(0.5);
    expect(m.brightness).toBeCloseTo((30 + 255) / 2 / 255, 12);
  });

  it('words size and brightness by the class terciles of the images given', () => {
    // Class 0: coverage 1/4, 2/4, 3/4 of a 4-pixel image; class 7: brightness low, mid, high.
    const images = Uint8Array.from([200, 0, 0, 0, 200, 200, 0, 0, 200, 200, 200, 0, 60, 0, 0, 0, 120, 0, 0, 0, 250, 0, 0, 0]);
    const captions = fashionCaptions(images, 4, [0, 0, 0, 7, 7, 7], { seed: 1 });
    const expected = [['small'], [], ['large'], ['dark'], [], ['bright']].map((adjectives, i) =>
      fillFashionTemplate(fashionTemplateFor(i, 1), FASHION_CLASS_WORDS[i < 3 ? 0 : 7]!, adjectives),
    );
    expect(captions).toEqual(expected);
    expect(fashionCaptions(images, 4, [0, 0, 0, 7, 7, 7], { seed: 1, attributes: false })).toEqual(
      [0, 0, 0, 7, 7, 7].map((label, i) => fashionTemplateFor(i, 1).replace('{}', FASHION_CLASS_WORDS[label]!)),
    );
  });

  it('are off by default, on with captions: true, one per image and on every batch', async () => {
    const plain = await registry.create('dataset', { name: 'fashion-mnist', split: 'test', limit: 20 }, context());
    expect(plain.captions).toBeUndefined();
    const batch0 = await plain.read([0]);
    expect(batch0.captions).toBeUndefined();
    batch0.images.dispose();

    const data = await registry.create('dataset', { name: 'fashion-mnist', split: 'test', limit: 300, captions: true }, context());
    expect(data.captions).toHaveLength(300);
    data.captions!.forEach((caption, i) => {
      const word = FASHION_CLASS_WORDS[data.labels![i]!]!;
      const options = ADJECTIVE_CHOICES.map((a) => fillFashionTemplate(fashionTemplateFor(i), word, a));
      expect(options, caption).toContain(caption);
    });
    // Every template and both kinds of words occur.
    for (const t of FASHION_CAPTION_TEMPLATES) expect(data.captions!.some((_, i) => fashionTemplateFor(i) === t)).toBe(true);
    for (const w of ['small', 'large', 'dark', 'bright']) expect(data.captions!.some((c) => c.includes(` ${w} `))).toBe(true);
    const batch = await data.read([5, 2]);
    expect(batch.captions).toEqual([data.captions![5], data.captions![2]]);
    expect(Array.from(batch.labels!)).toEqual([data.labels![5], data.labels![2]]);
    batch.images.dispose();
  });

  it('do not depend on limit, and follow captionSeed and captionAttributes', async () => {
    const create = (options: Record<string, unknown>) => registry.create('dataset', { name: 'fashion-mnist', split: 'test', captions: true, ...options }, context());
    const [short, long, reseeded, bare] = await Promise.all([
      create({ limit: 40 }),
      create({ limit: 300 }),
      create({ limit: 40, captionSeed: 5 }),
      create({ limit: 40, captionAttributes: false }),
    ]);
    expect(short.captions).toEqual(long.captions!.slice(0, 40));
    expect(reseeded.captions).not.toEqual(short.captions);
    const trainingCaptions = new Set(FASHION_CLASS_WORDS.flatMap((w) => FASHION_CAPTION_TEMPLATES.map((t) => t.replace('{}', w))));
    expect(bare.captions!.every((c) => trainingCaptions.has(c))).toBe(true);
  });
});
