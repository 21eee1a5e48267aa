import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isGenviewError } from '@genview/core';
import { afterAll, describe, expect, it } from 'vitest';
import { BYTE_TO_UNICODE, CLIP_BYTE_ORDER, bytesToUnicode, decodeByteChars, encodeByteChars } from '../src/text/byte-unicode';
import { ClipTokenizer } from '../src/text/clip-tokenizer';
import { trainClipBpe, writeClipTokenizer } from '../src/text/train-bpe';

const root = mkdtempSync(join(tmpdir(), 'genview-tokenizer-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirCounter = 0;
async function freshDir(): Promise<string> {
  const dir = join(root, `t${dirCounter++}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

function expectGenviewError(fn: () => unknown, code: string) {
  try {
    fn();
  } catch (error) {
    expect(isGenviewError(error), String(error)).toBe(true);
    expect((error as { code: string }).code).toBe(code);
    return;
  }
  throw new Error(`expected a GenviewError ${code}`);
}

async function expectGenviewRejection(promise: Promise<unknown>, code: string) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isGenviewError(error), String(error)).toBe(true);
  expect((error as { code: string }).code).toBe(code);
}

/**
 * CLIP's 512 base symbols written out independently of the library: printable ASCII '!'..'~', then
 * '¡'..'¬', '®'..'ÿ', then the 68 remaining bytes (0..32, 127..160, 173) as U+0100..U+0143; then the
 * same 256 with '</w>'. So a printable ASCII char c has id code(c) - 33 and c + '</w>' has code(c) - 33 + 256.
 */
function baseSymbols(): string[] {
  const chars: string[] = [];
  for (let c = 0x21; c <= 0x7e; c++) chars.push(String.fromCharCode(c));
  for (let c = 0xa1; c <= 0xac; c++) chars.push(String.fromCharCode(c));
  for (let c = 0xae; c <= 0xff; c++) chars.push(String.fromCharCode(c));
  for (let c = 0x100; c <= 0x143; c++) chars.push(String.fromCharCode(c));
  return [...chars, ...chars.map((c) => `${c}</w>`)];
}

/** Hand-written merges for "a small red circle"; rank = index. */
const MERGES: [string, string][] = [
  ['r', 'e'], // 0 → 're' 512
  ['e', 'd</w>'], // 1 → 'ed</w>' 513 (never reached in "red": rank 0 takes the 'e' first)
  ['s', 'm'], // 2 → 'sm' 514
  ['l', 'l</w>'], // 3 → 'll</w>' 515
  ['sm', 'a'], // 4 → 'sma' 516
  ['sma', 'll</w>'], // 5 → 'small</w>' 517
  ['i', 'r'], // 6 → 'ir' 518
  ['c', 'ir'], // 7 → 'cir' 519
  ['l', 'e</w>'], // 8 → 'le</w>' 520
  ['c', 'le</w>'], // 9 → 'cle</w>' 521
];
const BOS = 522;
const EOS = 523;

function handVocab(): Record<string, number> {
  const tokens = [...baseSymbols(), ...MERGES.map(([a, b]) => a + b), '<|startoftext|>', '<|endoftext|>'];
  return Object.fromEntries(tokens.map((t, i) => [t, i]));
}

const ascii = (c: string) => c.charCodeAt(0) - 33;

/**
 * "a"      → a</w>                                                     320
 * "small"  → s m a l l</w> → sm a l l</w> (2) → sm a ll</w> (3) → sma ll</w> (4) → small</w> (5)   517
 * "red"    → r e d</w> → re d</w> (0); (re, d</w>) has no rank        512 323
 * "circle" → c i r c l e</w> → c ir c l e</w> (6) → cir c l e</w> (7) → cir c le</w> (8) → cir cle</w> (9)   519 521
 */
const SMALL_RED_CIRCLE = [BOS, 320, 517, 512, 323, 519, 521, EOS];

function handTokenizer(extra: Partial<ConstructorParameters<typeof ClipTokenizer>[0]> = {}) {
  return new ClipTokenizer({ vocab: handVocab(), merges: MERGES, unkToken: '<|endoftext|>', ...extra });
}

describe('bytes_to_unicode', () => {
  it('maps printable bytes to themselves and the other 68 to U+0100.. in byte order', () => {
    expect(new Set(BYTE_TO_UNICODE).size).toBe(256);
    expect(BYTE_TO_UNICODE[0x21]).toBe('!');
    expect(BYTE_TO_UNICODE[0xff]).toBe('ÿ');
    expect(BYTE_TO_UNICODE[0]).toBe('\u0100');
    expect(BYTE_TO_UNICODE[0x0a]).toBe('\u010a'); // 'Ċ'
    expect(BYTE_TO_UNICODE[0x20]).toBe('\u0120'); // 'Ġ', the space
    expect(BYTE_TO_UNICODE[0x7f]).toBe('\u0121'); // 34th shifted byte
    expect(BYTE_TO_UNICODE[0xad]).toBe('\u0143'); // the soft hyphen is the last one
  });

  it("lists bytes in CLIP's order, which is the id order of CLIP's base vocabulary", () => {
    const order = bytesToUnicode().map(([, c]) => c);
    expect(order).toEqual(baseSymbols().slice(0, 256));
    expect(CLIP_BYTE_ORDER[0]).toBe(0x21);
    expect(order.indexOf('\u0120')).toBe(220); // "Ġ" is 220 in openai/clip-vit-* vocab.json
  });

  it('round-trips every byte', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const chars = Array.from(all, (b) => BYTE_TO_UNICODE[b]).join('');
    expect(decodeByteChars(chars)).toEqual(all);
    expect(encodeByteChars('é ')).toBe('Ã©Ġ');
    expect(decodeByteChars('a b')).toBeNull();
  });
});

describe('ClipTokenizer on a hand-built vocabulary', () => {
  it('encodes "a small red circle" by merge rank, with </w> on the last symbol', () => {
    const tok = handTokenizer();
    expect(tok.tokenize('a small red circle')).toEqual(['a</w>', 'small</w>', 're', 'd</w>', 'cir', 'cle</w>']);
    expect(Array.from(tok.encode('a small red circle', { padding: 'none' }).ids)).toEqual(SMALL_RED_CIRCLE);
  });

  it('merges left to right and only where the pair is adjacent as symbols', () => {
    const tok = handTokenizer();
    // r e r e</w> → re r e</w>: the second 'e' already carries </w>, so (r, e) matches once.
    expect(tok.tokenize('rere')).toEqual(['re', 'r', 'e</w>']);
    expect(tok.tokenize('a')).toEqual(['a</w>']);
  });

  it('cleans text: whitespace collapsed, trimmed, lowercased', () => {
    const tok = handTokenizer();
    const messy = tok.encode('  A\tSMALL\n\n Red\u00a0\u3000circle  ', { padding: 'none' });
    expect(Array.from(messy.ids)).toEqual(SMALL_RED_CIRCLE);
  });

  it("splits with CLIP's pattern: contractions, single digits, punctuation runs", () => {
    const tok = handTokenizer();
    expect(tok.tokenize("it's 12 t-shirts!?")).toEqual([
      'i',
      't</w>',
      "'",
      's</w>',
      '1</w>',
      '2</w>',
      't</w>',
      '-</w>',
      's',
      'h',
      'ir', // rank 6
      't',
      's</w>',
      '!',
      '?</w>',
    ]);
    expect(tok.tokenize("ab'LL")).toEqual(['a', 'b</w>', "'", 'll</w>']); // "'ll" is one piece; rank 3 merges it
  });

  it('falls back to byte symbols for non-ASCII text and decodes it back', () => {
    const tok = handTokenizer();
    // 'é' is C3 A9 → 'Ã' '©'; 🙂 is F0 9F 99 82 → 'ð' 'Ł' 'Ļ' 'Ĥ'.
    // Ids: 'Ã' = 94 + 12 + (0xC3 - 0xAE) = 127; '©</w>' = 256 + 94 + 8 = 358; 'ð' = 106 + (0xF0 - 0xAE) = 172;
    // shifted bytes start at 188 (0..32 first, then 127..160): 0x9F → 188 + 33 + 32 = 253, 0x99 → 247, 0x82 + '</w>' → 256 + 224 = 480.
    expect(tok.tokenize('café 🙂')).toEqual(['c', 'a', 'f', 'Ã', '©</w>', 'ð', 'Ł', 'Ļ', 'Ĥ</w>']);
    const ids = tok.encode('café 🙂', { padding: 'none' }).ids;
    expect(Array.from(ids)).toEqual([BOS, ascii('c'), ascii('a'), ascii('f'), 94 + 12 + (0xc3 - 0xae), 256 + 94 + (0xa9 - 0xa1), 172, 253, 247, 480, EOS]);
    expect(tok.decode(ids)).toBe('café 🙂');
  });

  it('maps special tokens written in the text to their ids', () => {
    const tok = handTokenizer();
    expect(Array.from(tok.encode('a <|endoftext|> a', { padding: 'none' }).ids)).toEqual([BOS, 320, EOS, 320, EOS]);
  });

  it('truncates keeping eos last, pads with the pad token, masks only padding', () => {
    const tok = handTokenizer({ modelMaxLength: 10 });
    const padded = tok.encode('a small red circle');
    expect(Array.from(padded.ids)).toEqual([...SMALL_RED_CIRCLE, EOS, EOS]);
    expect(Array.from(padded.attentionMask)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);

    const cut = tok.encode('a small red circle', { maxLength: 6 });
    expect(Array.from(cut.ids)).toEqual([BOS, 320, 517, 512, 323, EOS]);
    expect(Array.from(cut.attentionMask)).toEqual([1, 1, 1, 1, 1, 1]);

    expect(tok.encode('a small red circle', { maxLength: 8 }).ids).toEqual(Int32Array.from(SMALL_RED_CIRCLE));
    expect(tok.encode('a small red circle', { maxLength: 6, truncation: false }).ids.length).toBe(8);
    expect(tok.encode('a', { maxLength: 6, padding: 'none' }).ids).toEqual(Int32Array.from([BOS, 320, EOS]));
    expect(Array.from(tok.encode('', { maxLength: 4 }).ids)).toEqual([BOS, EOS, EOS, EOS]);
    expectGenviewError(() => tok.encode('a', { maxLength: 1 }), 'BAD_INPUT');
  });

  it('pads with "!" when that is the pad token (SD 2.x)', () => {
    const tok = handTokenizer({ padToken: '!' });
    const enc = tok.encode('a', { maxLength: 5 });
    expect(Array.from(enc.ids)).toEqual([BOS, 320, EOS, 0, 0]);
    expect(Array.from(enc.attentionMask)).toEqual([1, 1, 1, 0, 0]);
  });

  it('encodes a batch as one [n, maxLength] block', () => {
    const tok = handTokenizer();
    const batch = tok.encodeBatch(['a', 'a small red circle'], { maxLength: 6 });
    expect(batch.shape).toEqual([2, 6]);
    expect(Array.from(batch.ids)).toEqual([BOS, 320, EOS, EOS, EOS, EOS, BOS, 320, 517, 512, 323, EOS]);
    expect(Array.from(batch.attentionMask)).toEqual([1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
  });

  it('uses the unk token for symbols missing from the vocabulary, and fails clearly without one', () => {
    const vocab = { a: 0, 'a</w>': 1, 'b</w>': 2, '<|startoftext|>': 3, '<|endoftext|>': 4, '<unk>': 5 };
    const withUnk = new ClipTokenizer({ vocab, merges: [], unkToken: '<unk>' });
    expect(Array.from(withUnk.encode('ab z', { padding: 'none' }).ids)).toEqual([3, 0, 2, 5, 4]);
    const withoutUnk = new ClipTokenizer({ vocab, merges: [] });
    expectGenviewError(() => withoutUnk.encode('z'), 'BAD_INPUT');
    expectGenviewError(() => new ClipTokenizer({ vocab, merges: [], padToken: '!' }), 'BAD_INPUT');
  });

  it('decodes with or without special tokens, words separated by spaces', () => {
    const tok = handTokenizer();
    const ids = tok.encode('a small red circle', { maxLength: 10 }).ids;
    expect(tok.decode(ids)).toBe('a small red circle');
    expect(tok.decode(ids, { skipSpecialTokens: false })).toBe('<|startoftext|>a small red circle <|endoftext|><|endoftext|><|endoftext|>');
    expect(tok.decode(tok.encode('a t-shirt').ids)).toBe('a t - shirt');
    expectGenviewError(() => tok.decode([9999]), 'BAD_INPUT');
  });
});

async function writeHandFolder(dir: string, options: { header?: boolean; config?: object; map?: object } = {}) {
  await writeFile(join(dir, 'vocab.json'), JSON.stringify(handVocab()));
  const lines = MERGES.map(([a, b]) => `${a} ${b}`);
  await writeFile(join(dir, 'merges.txt'), `${options.header === false ? '' : '#version: 0.2\n'}${lines.join('\n')}\n`);
  if (options.config) await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(options.config));
  if (options.map) await writeFile(join(dir, 'special_tokens_map.json'), JSON.stringify(options.map));
}

const TEXTS = ['a small red circle', 'rere', "it's 12 t-shirts!?", 'café 🙂', 'A  CIRCLE <|endoftext|>', ''];

describe('ClipTokenizer.fromFiles / fromTokenizerJson', () => {
  it('loads vocab.json + merges.txt (with or without the #version header) like the in-memory tokenizer', async () => {
    const reference = handTokenizer({ unkToken: null });
    for (const header of [true, false]) {
      const dir = await freshDir();
      await writeHandFolder(dir, { header });
      const tok = await ClipTokenizer.fromFiles(dir);
      expect(tok.modelMaxLength).toBe(77);
      expect(tok.padTokenId).toBe(EOS);
      for (const text of TEXTS) expect(tok.encode(text).ids).toEqual(reference.encode(text).ids);
    }
  });

  it('reads model_max_length and special tokens; special_tokens_map.json wins, as in SD 2.x', async () => {
    const dir = await freshDir();
    await writeHandFolder(dir, {
      config: { model_max_length: 12, pad_token: '<|endoftext|>', unk_token: { content: '<|endoftext|>', __type: 'AddedToken' } },
      map: { pad_token: { content: '!', lstrip: false }, bos_token: '<|startoftext|>', eos_token: '<|endoftext|>' },
    });
    const tok = await ClipTokenizer.fromFiles(dir);
    expect(tok.modelMaxLength).toBe(12);
    expect(tok.padToken).toBe('!');
    expect(tok.unkToken).toBe('<|endoftext|>');
    expect(Array.from(tok.encode('a small red circle').ids)).toEqual([...SMALL_RED_CIRCLE, 0, 0, 0, 0]);
  });

  it('treats Hugging Face\'s "unset" model_max_length as CLIP\'s 77', async () => {
    const dir = await freshDir();
    await writeHandFolder(dir, { config: { model_max_length: 1e30 } });
    expect((await ClipTokenizer.fromFiles(dir)).modelMaxLength).toBe(77);
  });

  it('fails clearly on a missing or malformed folder', async () => {
    const empty = await freshDir();
    await expectGenviewRejection(ClipTokenizer.fromFiles(empty), 'NOT_FOUND');
    await writeFile(join(empty, 'vocab.json'), JSON.stringify(handVocab()));
    await expectGenviewRejection(ClipTokenizer.fromFiles(empty), 'NOT_FOUND');
    await writeFile(join(empty, 'merges.txt'), '#version: 0.2\nr e x\n');
    await expectGenviewRejection(ClipTokenizer.fromFiles(empty), 'BAD_INPUT');
    await writeFile(join(empty, 'vocab.json'), '{"a": ');
    await expectGenviewRejection(ClipTokenizer.fromFiles(empty), 'UNREADABLE_FILE');
  });

  it('loads tokenizer.json (merges as strings or pairs, specials as added_tokens) to identical ids', async () => {
    const dir = await freshDir();
    await writeHandFolder(dir);
    const pair = await ClipTokenizer.fromFiles(dir);
    const full = handVocab();
    const modelVocab = Object.fromEntries(Object.entries(full).filter(([t]) => !t.startsWith('<|')));
    const tokenizerJson = (merges: unknown) => ({
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [
        { id: BOS, content: '<|startoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
        { id: EOS, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
      ],
      post_processor: { type: 'RobertaProcessing', sep: ['<|endoftext|>', EOS], cls: ['<|startoftext|>', BOS], trim_offsets: false, add_prefix_space: false },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: '<|endoftext|>',
        continuing_subword_prefix: '',
        end_of_word_suffix: '</w>',
        fuse_unk: false,
        byte_fallback: false,
        vocab: modelVocab,
        merges,
      },
    });
    const asStrings = join(await freshDir(), 'tokenizer.json');
    await writeFile(asStrings, JSON.stringify(tokenizerJson(MERGES.map(([a, b]) => `${a} ${b}`))));
    const pairsDir = await freshDir();
    await writeFile(join(pairsDir, 'tokenizer.json'), JSON.stringify(tokenizerJson(MERGES)));
    const fromStrings = await ClipTokenizer.fromTokenizerJson(asStrings);
    const fromPairs = await ClipTokenizer.fromFiles(pairsDir); // a folder with only tokenizer.json
    expect(fromStrings.vocabSize).toBe(pair.vocabSize);
    for (const text of TEXTS) {
      expect(fromStrings.encode(text).ids).toEqual(pair.encode(text).ids);
      expect(fromPairs.encode(text).ids).toEqual(pair.encode(text).ids);
    }
    expect(fromStrings.decode(fromStrings.encode('a small red circle').ids)).toBe('a small red circle');

    const gpt2Style = tokenizerJson(MERGES);
    gpt2Style.model.end_of_word_suffix = null as unknown as string;
    const bad = join(await freshDir(), 'tokenizer.json');
    await writeFile(bad, JSON.stringify(gpt2Style));
    await expectGenviewRejection(ClipTokenizer.fromTokenizerJson(bad), 'BAD_INPUT');
  });
});

/** A from-scratch BPE trainer (recount every pair each step) to check the incremental one against. */
function naiveTrain(texts: string[], mergesWanted: number, minFrequency: number): [string, string][] {
  let words = new Map<string, { symbols: string[]; count: number }>();
  for (const text of texts) {
    for (const w of text.split(' ')) {
      const symbols = [...w.slice(0, -1), `${w.slice(-1)}</w>`];
      const key = symbols.join('\u0001');
      const entry = words.get(key) ?? { symbols, count: 0 };
      entry.count++;
      words.set(key, entry);
    }
  }
  const merges: [string, string][] = [];
  while (merges.length < mergesWanted) {
    const counts = new Map<string, { a: string; b: string; n: number }>();
    for (const { symbols, count } of words.values()) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const k = `${symbols[i]} ${symbols[i + 1]}`;
        const e = counts.get(k) ?? { a: symbols[i], b: symbols[i + 1], n: 0 };
        e.n += count;
        counts.set(k, e);
      }
    }
    let best: { a: string; b: string; n: number } | undefined;
    for (const e of counts.values()) {
      if (!best || e.n > best.n || (e.n === best.n && (e.a < best.a || (e.a === best.a && e.b < best.b)))) best = e;
    }
    if (!best || best.n < minFrequency) break;
    const { a, b } = best;
    merges.push([a, b]);
    const next = new Map<string, { symbols: string[]; count: number }>();
    for (const { symbols, count } of words.values()) {
      const out: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(symbols[i]);
      }
      const key = out.join('\u0001');
      const entry = next.get(key) ?? { symbols: out, count: 0 };
      entry.count += count;
      next.set(key, entry);
    }
    words = next;
  }
  return merges;
}

describe('trainClipBpe', () => {
  it('merges the most frequent pair first and stops below minFrequency', () => {
    // words: "ab" ×2 → a b</w>, "ba" ×1 → b a</w>
    const one = trainClipBpe(['ab ab ba'], { vocabSize: 600, minFrequency: 1 });
    expect(one.merges).toEqual([
      ['a', 'b</w>'],
      ['b', 'a</w>'],
    ]);
    expect(one.vocab['ab</w>']).toBe(512);
    expect(one.vocab['ba</w>']).toBe(513);
    expect(one.vocab['<|startoftext|>']).toBe(514);
    expect(one.vocab['<|endoftext|>']).toBe(515);
    expect(trainClipBpe(['ab ab ba'], { vocabSize: 600, minFrequency: 2 }).merges).toEqual([['a', 'b</w>']]);
    expect(trainClipBpe(['ab ab ba'], { vocabSize: 600 }).merges).toEqual([['a', 'b</w>']]); // default minFrequency 2
  });

  it('breaks ties by the lexicographically smallest pair, whatever the text order', () => {
    for (const texts of [['ba ab'], ['ab ba'], ['ab', 'ba']]) {
      expect(trainClipBpe(texts, { vocabSize: 600, minFrequency: 1 }).merges).toEqual([
        ['a', 'b</w>'],
        ['b', 'a</w>'],
      ]);
    }
    // same first symbol: the second decides ('b</w>' < 'c')
    expect(trainClipBpe(['ac ab'], { vocabSize: 600, minFrequency: 1 }).merges).toEqual([
      ['a', 'b</w>'],
      ['a', 'c</w>'],
    ]);
  });

  it('stops at vocabSize and rejects sizes below the base vocabulary', () => {
    const model = trainClipBpe(['ab ab ba'], { vocabSize: 515, minFrequency: 1 });
    expect(model.merges).toEqual([['a', 'b</w>']]);
    expect(Object.keys(model.vocab)).toHaveLength(515);
    expectGenviewError(() => trainClipBpe(['ab'], { vocabSize: 513 }), 'INVALID_CONFIG');
    expectGenviewError(() => trainClipBpe(['ab'], { vocabSize: 600, minFrequency: 0 }), 'INVALID_CONFIG');
  });

  it("lays the vocabulary out as CLIP does: bytes, bytes + '</w>', merges, bos, eos", () => {
    const model = trainClipBpe(['a small red circle', 'a small blue circle'], { vocabSize: 530, minFrequency: 1 });
    const ids = Object.entries(model.vocab).sort((x, y) => x[1] - y[1]);
    expect(ids.map(([, id]) => id)).toEqual(ids.map((_, i) => i));
    expect(ids.slice(0, 512).map(([t]) => t)).toEqual(baseSymbols());
    expect(model.vocab['!']).toBe(0);
    expect(model.vocab['Ġ</w>']).toBe(476);
    model.merges.forEach(([a, b], i) => {
      expect(model.vocab[a + b]).toBe(512 + i);
    });
    expect(model.vocab['<|startoftext|>']).toBe(512 + model.merges.length);
    expect(model.vocab['<|endoftext|>']).toBe(513 + model.merges.length);
  });

  it('learns the same merges as a from-scratch recount on a larger corpus', () => {
    const syllables = ['ka', 'lo', 'mi', 'ra', 'to', 'ne', 'su', 'ba', 'a', 'o'];
    let state = 12345;
    const next = (n: number) => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state % n;
    };
    const texts = Array.from({ length: 300 }, () =>
      Array.from({ length: 2 + next(5) }, () => Array.from({ length: 1 + next(3) }, () => syllables[next(syllables.length)]).join('')).join(' '),
    );
    for (const minFrequency of [1, 3]) {
      const model = trainClipBpe(texts, { vocabSize: 514 + 150, minFrequency });
      expect(model.merges).toEqual(naiveTrain(texts, 150, minFrequency));
    }
  });
});

describe('train → write → load', () => {
  const colors = ['red', 'green', 'blue', 'yellow', 'white', 'black'];
  const shapes = ['circle', 'square', 'triangle', 'star'];
  const sizes = ['small', 'large', 'tiny'];
  const captions = colors.flatMap((c) => shapes.flatMap((s) => sizes.map((z) => `a ${z} ${c} ${s} on a grey background`)));

  it('writes the CLIP folder layout and encodes training captions to one token per word', async () => {
    const model = trainClipBpe(captions, { vocabSize: 700, minFrequency: 2 });
    const dir = join(await freshDir(), 'tokenizer');
    await writeClipTokenizer(dir, model, { maxLength: 12, padToken: '!' });

    expect(readFileSync(join(dir, 'merges.txt'), 'utf8').split('\n')[0]).toBe('#version: 0.2');
    const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
    expect(config).toMatchObject({ model_max_length: 12, pad_token: '!', bos_token: '<|startoftext|>', eos_token: '<|endoftext|>' });
    const vocabJson = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8'));
    expect(vocabJson).toEqual(model.vocab);

    const tok = await ClipTokenizer.fromFiles(dir);
    expect(tok.modelMaxLength).toBe(12);
    expect(tok.padTokenId).toBe(0);
    for (const caption of captions) {
      const { ids, attentionMask } = tok.encode(caption);
      const words = caption.split(' ').length;
      expect(ids.length).toBe(12);
      expect(attentionMask.reduce((s, m) => s + m, 0)).toBe(words + 2);
      expect(Array.from(ids.slice(words + 2))).toEqual(new Array(12 - words - 2).fill(0));
      expect(tok.decode(ids)).toBe(caption);
    }
    expect(tok.decode(tok.encode('  A Tiny  BLUE star\n').ids)).toBe('a tiny blue star');
    // An unseen word still encodes (byte symbols), just to more tokens.
    expect(tok.decode(tok.encode('a purple star').ids)).toBe('a purple star');
    expect(tok.tokenize('purple').length).toBeGreaterThan(1);
  });

  it('refuses a pad token outside the vocabulary', async () => {
    const model = trainClipBpe(captions, { vocabSize: 520 });
    await expectGenviewRejection(writeClipTokenizer(join(root, 'bad'), model, { padToken: '<pad>' }), 'BAD_INPUT');
  });
});

// Ids written by the Python trainer in tools/diffusion (an independent implementation of the same BPE).
const pythonFixture = fileURLToPath(new URL('./fixtures/tiny-random-unclip/tokenizer', import.meta.url));
describe.skipIf(!existsSync(join(pythonFixture, 'fixture.json')))('cross-check with the Python tokenizer fixture', () => {
  it('encodes every fixture caption to the ids the Python implementation wrote', async () => {
    const fixture = JSON.parse(readFileSync(join(pythonFixture, 'fixture.json'), 'utf8')) as { max_length: number; cases: { text: string; ids: number[] }[] };
    const tok = await ClipTokenizer.fromFiles(pythonFixture);
    expect(fixture.cases.length).toBeGreaterThan(0);
    for (const { text, ids } of fixture.cases) {
      expect(Array.from(tok.encode(text, { maxLength: fixture.max_length }).ids), text).toEqual(ids);
    }
  });
});
