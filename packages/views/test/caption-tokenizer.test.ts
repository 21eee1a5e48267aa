import { type Tokenizer, isGenviewError } from '@genview/core';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer } from '../src/text/clip-tokenizer';
import { trainCaptionTokenizer } from '../src/text/caption-tokenizer';
import { clipBaseVocabulary } from '../src/text/train-bpe';

const CAPTIONS = [
  'a small red circle left of a large blue square',
  'a large striped green triangle',
  'a small dotted purple star above a large white cross',
  'a large yellow diamond',
  'a small orange circle below a small striped red square',
  'a photo of a sneaker',
];

function expectGenviewError(fn: () => unknown, code: string, where: RegExp) {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(isGenviewError(caught), String(caught)).toBe(true);
  expect((caught as { code: string }).code).toBe(code);
  expect((caught as { where: string }).where).toMatch(where);
}

describe('ClipTokenizer as a core Tokenizer', () => {
  it('encodes a batch as [n, contextLength]: bos, the words, eos, then eos padding', () => {
    const tokenizer: Tokenizer = trainCaptionTokenizer(CAPTIONS, { merges: 300, contextLength: 16 });
    const clip = tokenizer as ClipTokenizer;
    const { ids, shape } = tokenizer.encodeBatch(['a red circle', 'a large red square']);
    expect(shape).toEqual([2, 16]);
    expect(ids.length).toBe(32);
    for (const [row, words] of [
      [0, 3],
      [1, 4],
    ] as const) {
      const r = ids.subarray(row * 16, (row + 1) * 16);
      // Every word of these captions is frequent enough to be one token after 300 merges.
      expect(r[0]).toBe(clip.bosTokenId);
      expect(r.indexOf(tokenizer.eosTokenId)).toBe(words + 1);
      // The pad token defaults to eos (SD 1.x, CLIP): everything after the first eos is eos.
      expect(Array.from(r.subarray(words + 1))).toEqual(new Array(16 - words - 1).fill(tokenizer.eosTokenId));
    }
    expect(tokenizer.contextLength).toBe(16);
  });

  it('cuts long captions to contextLength, keeping eos last', () => {
    const tokenizer = trainCaptionTokenizer(CAPTIONS, { merges: 300, contextLength: 6 });
    const { ids, shape } = tokenizer.encodeBatch([CAPTIONS[0] as string]);
    expect(shape).toEqual([1, 6]);
    expect(ids[5]).toBe(tokenizer.eosTokenId);
    expect(tokenizer.decode(ids)).toBe('a small red circle');
  });

  it('counts ids, not entries: vocabSize is one more than the largest id', () => {
    const base = clipBaseVocabulary();
    const vocab: Record<string, number> = Object.fromEntries(base.map((t, i) => [t, i]));
    vocab['<|startoftext|>'] = 600;
    vocab['<|endoftext|>'] = 601;
    const tokenizer = new ClipTokenizer({ vocab, merges: [] });
    expect(tokenizer.vocabSize).toBe(602);
    expect(tokenizer.eosTokenId).toBe(601);
    expect(tokenizer.contextLength).toBe(77);
  });
});

describe('trainCaptionTokenizer', () => {
  it('learns a vocabulary of 514 + merges at most, ids below vocabSize, eos last', () => {
    const tokenizer = trainCaptionTokenizer(CAPTIONS, { merges: 20 });
    expect(tokenizer.vocabSize).toBe(514 + 20);
    expect(tokenizer.eosTokenId).toBe(tokenizer.vocabSize - 1);
    // Six captions run out of pairs seen twice before 86 merges: the vocabulary stops short, never over.
    const sized = trainCaptionTokenizer(CAPTIONS, { vocabSize: 600 });
    expect(sized.vocabSize).toBeGreaterThan(534);
    expect(sized.vocabSize).toBeLessThan(600);
    expect(trainCaptionTokenizer(CAPTIONS, { vocabSize: 600, minFrequency: 1 }).vocabSize).toBe(600);
    const { ids } = sized.encodeBatch(CAPTIONS);
    expect(Math.max(...ids)).toBeLessThan(sized.vocabSize);
    expect(Math.min(...ids)).toBeGreaterThanOrEqual(0);
  });

  it('round-trips its captions through encode and decode', () => {
    const tokenizer = trainCaptionTokenizer(CAPTIONS, { merges: 200 });
    const { ids, shape } = tokenizer.encodeBatch(CAPTIONS);
    CAPTIONS.forEach((caption, row) => {
      expect(tokenizer.decode(ids.subarray(row * shape[1], (row + 1) * shape[1]))).toBe(caption);
    });
    // Words it never saw still encode (byte symbols) and decode back.
    expect(tokenizer.decode(tokenizer.encode('a quokka').ids)).toBe('a quokka');
  });

  it('names the field of a bad option', () => {
    expectGenviewError(() => trainCaptionTokenizer(CAPTIONS, { merges: 10, vocabSize: 600 }), 'INVALID_CONFIG', /vocabSize/);
    expectGenviewError(() => trainCaptionTokenizer(CAPTIONS, {}), 'INVALID_CONFIG', /vocabSize/);
    expectGenviewError(() => trainCaptionTokenizer(CAPTIONS, { merges: -1 }), 'INVALID_CONFIG', /merges/);
    expectGenviewError(() => trainCaptionTokenizer(CAPTIONS, { merges: 10, contextLength: 1 }), 'INVALID_CONFIG', /contextLength/);
    expectGenviewError(() => trainCaptionTokenizer([], { merges: 10 }), 'EMPTY_DATASET', /captions/);
    expectGenviewError(() => trainCaptionTokenizer(CAPTIONS, { vocabSize: 100 }), 'INVALID_CONFIG', /vocabSize/);
  });
});
