import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GenviewError, writeFileAtomic } from '@genview/core';
import { BYTE_TO_UNICODE, CLIP_BYTE_ORDER } from './byte-unicode';
import { CLIP_BOS, CLIP_CONTEXT_LENGTH, CLIP_END_OF_WORD, CLIP_EOS, mergePair, normalizeClipText, pairKey, pieceToByteChars, splitClipPieces } from './clip-text';

export interface ClipBpeTrainOptions {
  /** Final vocabulary size: 512 byte symbols + merges + 2 special tokens, so at least 514. */
  vocabSize: number;
  /** A pair seen fewer times than this is never merged (default 2); training stops early when the best pair is rarer. */
  minFrequency?: number;
}

export interface ClipBpeModel {
  /** Token → id in CLIP's layout (see trainClipBpe). */
  vocab: Record<string, number>;
  /** Merges in the order they were learned, which is their rank. */
  merges: [string, string][];
}

export interface WriteClipTokenizerOptions {
  /** model_max_length written to tokenizer_config.json (default 77). */
  maxLength?: number;
  /** Pad token (default "<|endoftext|>", as SD 1.x; SD 2.x uses "!"). */
  padToken?: string;
}

/** The 512 symbols every CLIP vocabulary starts with: the byte characters, then the same with "</w>". */
export function clipBaseVocabulary(): string[] {
  const bytes = CLIP_BYTE_ORDER.map((b) => BYTE_TO_UNICODE[b]);
  return [...bytes, ...bytes.map((c) => c + CLIP_END_OF_WORD)];
}

interface Word {
  symbols: string[];
  count: number;
}

interface HeapEntry {
  count: number;
  a: string;
  b: string;
}

/** Higher count first; equal counts by (a, b) in code-unit order, i.e. Python's min() over the pair tuples. */
function before(x: HeapEntry, y: HeapEntry): boolean {
  if (x.count !== y.count) return x.count > y.count;
  if (x.a !== y.a) return x.a < y.a;
  return x.b < y.b;
}

/** A binary heap of candidate pairs; entries go stale when a count changes and are skipped when popped. */
class PairHeap {
  private readonly items: HeapEntry[] = [];

  push(entry: HeapEntry): void {
    const items = this.items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  pop(): HeapEntry | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let best = i;
        if (left < items.length && before(items[left], items[best])) best = left;
        if (right < items.length && before(items[right], items[best])) best = right;
        if (best === i) break;
        [items[i], items[best]] = [items[best], items[i]];
        i = best;
      }
    }
    return top;
  }
}

/**
 * Learns a CLIP-style byte-level BPE from captions. Words are found exactly as ClipTokenizer.encode finds
 * them (same cleanup and pattern; "<|startoftext|>"/"<|endoftext|>" in the text are skipped), so every
 * learned merge can fire at encode time.
 *
 * Each step merges the most frequent adjacent pair, counted over all word occurrences. Ties go to the
 * lexicographically smallest pair, comparing the first symbols and then the second ones by UTF-16 code
 * unit (= code point here: all byte characters are below U+0144), which is what Python's
 * `min(pairs with the top count)` gives; the result does not depend on the order of `texts`.
 * A pair whose concatenation is already a token (reachable through a different split) is never merged,
 * so every merge adds exactly one token and ids stay `512 + merge index`.
 *
 * The vocabulary is laid out as CLIP builds its own: the 256 byte characters in CLIP's order, the same
 * 256 with "</w>", one token per merge in merge order, then "<|startoftext|>" and "<|endoftext|>"
 * (so a full-size vocabulary puts them at 49406 and 49407, as in CLIP).
 */
export function trainClipBpe(texts: readonly string[], options: ClipBpeTrainOptions): ClipBpeModel {
  const minFrequency = options.minFrequency ?? 2;
  const base = clipBaseVocabulary();
  if (!Number.isInteger(options.vocabSize) || options.vocabSize < base.length + 2) {
    throw new GenviewError('INVALID_CONFIG', `vocabSize is ${options.vocabSize}; it must be an integer ≥ ${base.length + 2} (512 byte symbols + 2 special tokens).`, {
      where: 'vocabSize',
      fix: 'ask for 514 plus the number of merges wanted.',
    });
  }
  if (!Number.isInteger(minFrequency) || minFrequency < 1) {
    throw new GenviewError('INVALID_CONFIG', `minFrequency is ${minFrequency}; it must be an integer ≥ 1.`, { where: 'minFrequency', fix: 'use 1 to merge every pair, 2 (the default) to skip pairs seen once.' });
  }

  const wordCounts = new Map<string, number>();
  for (const text of texts) {
    for (const piece of splitClipPieces(normalizeClipText(text))) {
      if (piece === CLIP_BOS || piece === CLIP_EOS) continue;
      const word = pieceToByteChars(piece);
      wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
    }
  }
  const words: Word[] = [...wordCounts].map(([word, count]) => {
    const symbols = Array.from(word);
    symbols[symbols.length - 1] += CLIP_END_OF_WORD;
    return { symbols, count };
  });

  const pairCounts = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const pairSymbols = new Map<string, [string, string]>();
  const addPairs = (index: number, sign: 1 | -1, touched: Set<string>) => {
    const { symbols, count } = words[index];
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = pairKey(symbols[i], symbols[i + 1]);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + sign * count);
      touched.add(key);
      if (sign === 1) {
        if (!pairSymbols.has(key)) pairSymbols.set(key, [symbols[i], symbols[i + 1]]);
        const set = pairWords.get(key);
        if (set) set.add(index);
        else pairWords.set(key, new Set([index]));
      } else {
        pairWords.get(key)?.delete(index);
      }
    }
  };

  const heap = new PairHeap();
  const refresh = (touched: Set<string>) => {
    for (const key of touched) {
      const count = pairCounts.get(key) ?? 0;
      if (count > 0) {
        const [a, b] = pairSymbols.get(key) as [string, string];
        heap.push({ count, a, b });
      } else {
        pairCounts.delete(key);
        pairWords.delete(key);
        pairSymbols.delete(key);
      }
    }
  };
  const initial = new Set<string>();
  for (let index = 0; index < words.length; index++) addPairs(index, 1, initial);
  refresh(initial);

  const tokens = new Set(base);
  const merges: [string, string][] = [];
  const mergesWanted = options.vocabSize - base.length - 2;
  while (merges.length < mergesWanted) {
    const top = heap.pop();
    if (top === undefined || top.count < minFrequency) break;
    const key = pairKey(top.a, top.b);
    if (pairCounts.get(key) !== top.count) continue; // stale entry
    const merged = top.a + top.b;
    if (tokens.has(merged)) continue;
    tokens.add(merged);
    merges.push([top.a, top.b]);
    const touched = new Set<string>();
    for (const index of [...(pairWords.get(key) ?? [])]) {
      addPairs(index, -1, touched);
      words[index].symbols = mergePair(words[index].symbols, top.a, top.b);
      addPairs(index, 1, touched);
    }
    refresh(touched);
  }

  const layout = [...base, ...merges.map(([a, b]) => a + b), CLIP_BOS, CLIP_EOS];
  return { vocab: Object.fromEntries(layout.map((token, id) => [token, id])), merges };
}

/**
 * Writes a tokenizer folder in the layout diffusers pipelines ship (tokenizer/): vocab.json, merges.txt
 * with a "#version: 0.2" header, tokenizer_config.json and special_tokens_map.json. ClipTokenizer.fromFiles
 * and Hugging Face's CLIPTokenizer both read it.
 */
export async function writeClipTokenizer(dir: string, model: ClipBpeModel, options: WriteClipTokenizerOptions = {}): Promise<void> {
  const maxLength = options.maxLength ?? CLIP_CONTEXT_LENGTH;
  const padToken = options.padToken ?? CLIP_EOS;
  for (const [role, token] of [
    ['bos', CLIP_BOS],
    ['eos', CLIP_EOS],
    ['pad', padToken],
  ]) {
    if (!Object.hasOwn(model.vocab, token)) {
      throw new GenviewError('BAD_INPUT', `the ${role} token ${JSON.stringify(token)} is not in the vocabulary.`, {
        where: `writeClipTokenizer(${dir})`,
        fix: 'write a model made by trainClipBpe, and pick a pad token from its vocabulary.',
      });
    }
  }
  if (!Number.isInteger(maxLength) || maxLength < 2) {
    throw new GenviewError('BAD_INPUT', `maxLength is ${maxLength}; it must be an integer ≥ 2.`, { where: 'maxLength', fix: 'use the text encoder\'s context length, e.g. 77.' });
  }
  await mkdir(dir, { recursive: true });
  // Written by hand so entries stay in id order: JSON.stringify would hoist integer-like keys such as "0".
  const entries = Object.entries(model.vocab).sort((x, y) => x[1] - y[1]);
  const vocabJson = `{${entries.map(([token, id]) => `${JSON.stringify(token)}: ${id}`).join(', ')}}\n`;
  const mergesTxt = `#version: 0.2\n${model.merges.map(([a, b]) => `${a} ${b}\n`).join('')}`;
  const special = { bos_token: CLIP_BOS, eos_token: CLIP_EOS, unk_token: CLIP_EOS, pad_token: padToken };
  const config = {
    ...special,
    model_max_length: maxLength,
    tokenizer_class: 'CLIPTokenizer',
    do_lower_case: true,
    add_prefix_space: false,
    errors: 'replace',
  };
  await writeFileAtomic(join(dir, 'vocab.json'), vocabJson);
  await writeFileAtomic(join(dir, 'merges.txt'), mergesTxt);
  await writeFileAtomic(join(dir, 'tokenizer_config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeFileAtomic(join(dir, 'special_tokens_map.json'), `${JSON.stringify(special, null, 2)}\n`);
}
