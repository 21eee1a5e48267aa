import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GenviewError, type Tokenizer, readFileIfExists } from '@genview/core';
import { decodeByteChars } from './byte-unicode';
import {
  CLIP_BOS,
  CLIP_CONTEXT_LENGTH,
  CLIP_END_OF_WORD,
  CLIP_EOS,
  bpeWord,
  normalizeClipText,
  pairKey,
  pieceToByteChars,
  splitClipPieces,
} from './clip-text';

export interface ClipTokenizerSpec {
  /** Token → id. */
  vocab: Readonly<Record<string, number>> | ReadonlyMap<string, number>;
  /** Merges in rank order (first = applied first). */
  merges: readonly (readonly [string, string])[];
  bosToken?: string;
  eosToken?: string;
  /** Defaults to the eos token (SD 1.x); SD 2.x tokenizers pad with "!". */
  padToken?: string;
  /** Used for symbols missing from the vocabulary; without one such a symbol is an error. */
  unkToken?: string | null;
  /** Default maxLength of `encode`; 77 when not given. */
  modelMaxLength?: number;
  /** Suffix of a word's last symbol; "</w>" for CLIP. */
  endOfWordSuffix?: string;
  /** Tokens outside BPE (e.g. from tokenizer.json's added_tokens) that `decode` drops like bos/eos. */
  extraSpecialTokens?: readonly string[];
}

export interface ClipEncodeOptions {
  /** Target length including bos and eos; defaults to the tokenizer's model_max_length. */
  maxLength?: number;
  /** 'max_length' (the default, what diffusion pipelines use) pads up to maxLength; 'none' does not. */
  padding?: 'max_length' | 'none';
  /** Cut to maxLength, keeping eos as the last id (default true). */
  truncation?: boolean;
}

export interface ClipEncoding {
  ids: Int32Array;
  /** 1 for bos, text and eos; 0 for padding (also when the pad token is eos itself). */
  attentionMask: Int32Array;
}

export interface ClipBatchEncoding extends ClipEncoding {
  /** [texts, maxLength]; ids and attentionMask are row-major in this shape. */
  shape: [number, number];
}

export interface ClipDecodeOptions {
  /** Drop bos, eos, pad, unk and other special tokens, as Hugging Face's skip_special_tokens does (default true). */
  skipSpecialTokens?: boolean;
}

/** Words are few in caption sets but unbounded in general text; a full cache is simply dropped. */
const CACHE_LIMIT = 100_000;

/** model_max_length values this large are Hugging Face's "unset" marker (int(1e30)), not a real limit. */
const UNSET_MAX_LENGTH = 1e9;

const utf8 = new TextEncoder();

/**
 * CLIP's byte-level BPE tokenizer (openai/CLIP simple_tokenizer.py, Hugging Face CLIPTokenizer):
 * normalise (NFC, collapse whitespace, lowercase), split with CLIP's pattern, spell each piece in byte
 * characters, apply BPE by merge rank with "</w>" on the last symbol, look the symbols up, then wrap in
 * bos/eos, truncate and pad. "<|startoftext|>" / "<|endoftext|>" written in the text map to their ids.
 * As a core `Tokenizer` it feeds text towers: encodeBatch pads and truncates every row to contextLength.
 */
export class ClipTokenizer implements Tokenizer {
  readonly bosToken: string;
  readonly eosToken: string;
  readonly padToken: string;
  readonly unkToken: string | null;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly padTokenId: number;
  readonly unkTokenId: number | null;
  readonly modelMaxLength: number;
  readonly endOfWordSuffix: string;
  /**
   * One more than the largest id, special tokens included: an embedding table this big holds every id.
   * For CLIP's contiguous layout that is the number of tokens (49408).
   */
  readonly vocabSize: number;
  private readonly encoder: Map<string, number>;
  private readonly decoder: Map<number, string>;
  private readonly ranks: Map<string, number>;
  private readonly specialIds: Set<number>;
  private readonly cache = new Map<string, readonly number[]>();

  constructor(spec: ClipTokenizerSpec) {
    const entries = spec.vocab instanceof Map ? [...spec.vocab.entries()] : Object.entries(spec.vocab);
    this.encoder = new Map();
    this.decoder = new Map();
    for (const [token, id] of entries) {
      if (!Number.isInteger(id) || id < 0) {
        throw new GenviewError('BAD_INPUT', `vocabulary entry ${JSON.stringify(token)} has id ${String(id)}; ids are non-negative integers.`, {
          where: 'vocab',
          fix: 'pass a vocab.json / tokenizer.json written by a BPE trainer.',
        });
      }
      this.encoder.set(token, id);
      this.decoder.set(id, token);
    }
    let largest = -1;
    for (const id of this.decoder.keys()) if (id > largest) largest = id;
    this.vocabSize = largest + 1;
    this.ranks = new Map();
    // A repeated merge line ends with its last rank, as in CLIP's dict(zip(merges, ranks)) and tokenizers' map.
    spec.merges.forEach(([a, b], rank) => {
      this.ranks.set(pairKey(a, b), rank);
    });
    this.endOfWordSuffix = spec.endOfWordSuffix ?? CLIP_END_OF_WORD;
    if (this.endOfWordSuffix === '') {
      throw new GenviewError('BAD_INPUT', 'a CLIP tokenizer needs a non-empty end-of-word suffix ("</w>").', {
        where: 'endOfWordSuffix',
        fix: 'this looks like a GPT-2 style BPE, which splits text differently; use a CLIP tokenizer folder.',
      });
    }
    this.bosToken = spec.bosToken ?? CLIP_BOS;
    this.eosToken = spec.eosToken ?? CLIP_EOS;
    this.padToken = spec.padToken ?? this.eosToken;
    this.unkToken = spec.unkToken ?? null;
    this.bosTokenId = this.requireId(this.bosToken, 'bos_token');
    this.eosTokenId = this.requireId(this.eosToken, 'eos_token');
    this.padTokenId = this.requireId(this.padToken, 'pad_token');
    this.unkTokenId = this.unkToken === null ? null : this.requireId(this.unkToken, 'unk_token');
    const maxLength = spec.modelMaxLength ?? CLIP_CONTEXT_LENGTH;
    this.modelMaxLength = maxLength >= UNSET_MAX_LENGTH ? CLIP_CONTEXT_LENGTH : checkMaxLength(maxLength, 'model_max_length');
    this.specialIds = new Set([this.bosTokenId, this.eosTokenId, this.padTokenId]);
    if (this.unkTokenId !== null) this.specialIds.add(this.unkTokenId);
    for (const token of spec.extraSpecialTokens ?? []) {
      const id = this.encoder.get(token);
      if (id !== undefined) this.specialIds.add(id);
    }
  }

  /**
   * Loads a CLIP tokenizer folder (a diffusers pipeline's tokenizer/): vocab.json and merges.txt, plus
   * tokenizer_config.json and special_tokens_map.json when present (special_tokens_map.json wins where
   * both name a token, as in Hugging Face, which is how SD 2.x ends up padding with "!"). A folder with
   * only tokenizer.json is loaded through `fromTokenizerJson`.
   */
  static async fromFiles(dir: string): Promise<ClipTokenizer> {
    const vocabPath = join(dir, 'vocab.json');
    const vocabText = await readFileIfExists(vocabPath, 'utf8');
    if (vocabText === null) {
      const tokenizerJson = join(dir, 'tokenizer.json');
      if ((await readFileIfExists(tokenizerJson, 'utf8')) !== null) return ClipTokenizer.fromTokenizerJson(tokenizerJson);
      throw new GenviewError('NOT_FOUND', `no vocab.json (or tokenizer.json) in ${dir}.`, {
        where: dir,
        fix: "point at a CLIP tokenizer folder (a diffusers pipeline's tokenizer/), or write one with writeClipTokenizer.",
      });
    }
    const vocab = parseVocab(parseJson(vocabText, vocabPath), vocabPath);
    const mergesPath = join(dir, 'merges.txt');
    const mergesText = await readFileIfExists(mergesPath, 'utf8');
    if (mergesText === null) {
      throw new GenviewError('NOT_FOUND', `${dir} has vocab.json but no merges.txt.`, {
        where: mergesPath,
        fix: 'copy merges.txt from the same tokenizer as vocab.json; the two only make sense together.',
      });
    }
    const config = await readSpecialTokenConfig(dir);
    return new ClipTokenizer({ vocab, merges: parseMergesTxt(mergesText, mergesPath), ...config });
  }

  /**
   * Loads a Hugging Face tokenizers file (tokenizer.json) whose model is a BPE with an end-of-word suffix,
   * as CLIPTokenizerFast saves it. bos/eos come from the post-processor's cls/sep, the pad token from its
   * padding section; tokenizer_config.json / special_tokens_map.json next to it override both. The file's
   * normalizer and pre-tokenizer sections are not interpreted: CLIP's are applied regardless.
   */
  static async fromTokenizerJson(path: string): Promise<ClipTokenizer> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new GenviewError('NOT_FOUND', `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}.`, {
        where: path,
        fix: 'pass the path of a tokenizer.json file.',
        cause: error,
      });
    }
    const json = asObject(parseJson(text, path), path, 'the top level');
    const model = asObject(json.model, path, '"model"');
    if (model.type !== undefined && model.type !== 'BPE') {
      throw new GenviewError('BAD_INPUT', `model.type is ${JSON.stringify(model.type)}; only "BPE" tokenizers can be loaded.`, {
        where: path,
        fix: 'use the tokenizer.json of a CLIP (BPE) tokenizer.',
      });
    }
    if (typeof model.continuing_subword_prefix === 'string' && model.continuing_subword_prefix !== '') {
      throw new GenviewError('BAD_INPUT', `model.continuing_subword_prefix is ${JSON.stringify(model.continuing_subword_prefix)}; CLIP's BPE has none.`, {
        where: path,
        fix: 'use the tokenizer.json of a CLIP tokenizer.',
      });
    }
    const suffix = model.end_of_word_suffix;
    if (typeof suffix !== 'string' || suffix === '') {
      throw new GenviewError('BAD_INPUT', 'model.end_of_word_suffix is missing; CLIP-style BPE marks word ends with "</w>".', {
        where: path,
        fix: 'this looks like a GPT-2 style byte-level BPE, which splits text differently; use a CLIP tokenizer.json.',
      });
    }
    const vocab = parseVocab(model.vocab, `${path} model.vocab`);
    const extraSpecialTokens: string[] = [];
    if (json.added_tokens !== undefined && json.added_tokens !== null) {
      if (!Array.isArray(json.added_tokens)) throw badShape(path, '"added_tokens" is not a list');
      for (const added of json.added_tokens) {
        const entry = asObject(added, path, 'an added_tokens entry');
        if (typeof entry.content !== 'string' || !Number.isInteger(entry.id)) throw badShape(path, 'an added_tokens entry lacks content or id');
        vocab.set(entry.content, entry.id as number);
        if (entry.special === true) extraSpecialTokens.push(entry.content);
      }
    }
    const spec: Partial<ClipTokenizerSpec> = { ...tokenizerJsonSpecials(json), unkToken: typeof model.unk_token === 'string' ? model.unk_token : undefined };
    const config = await readSpecialTokenConfig(dirname(path));
    return new ClipTokenizer({
      ...spec,
      ...config,
      vocab,
      merges: parseMergeList(model.merges, path),
      endOfWordSuffix: suffix,
      extraSpecialTokens,
    });
  }

  /** The length encodeBatch pads and cuts rows to by default (model_max_length). */
  get contextLength(): number {
    return this.modelMaxLength;
  }

  /** The id of a token string, or undefined. */
  tokenToId(token: string): number | undefined {
    return this.encoder.get(token);
  }

  /** The token string of an id, or undefined. */
  idToToken(id: number): string | undefined {
    return this.decoder.get(id);
  }

  /** The text's BPE tokens (no bos/eos), as strings. */
  tokenize(text: string): string[] {
    return this.textIds(text).map((id) => this.decoder.get(id) as string);
  }

  /** Token ids of `text` wrapped in bos/eos, truncated and padded as `options` say. */
  encode(text: string, options: ClipEncodeOptions = {}): ClipEncoding {
    const maxLength = checkMaxLength(options.maxLength ?? this.modelMaxLength, 'maxLength');
    const padding = options.padding ?? 'max_length';
    const truncation = options.truncation ?? true;
    let content = this.textIds(text);
    if (truncation && content.length + 2 > maxLength) content = content.slice(0, maxLength - 2);
    const used = content.length + 2;
    const length = padding === 'max_length' ? Math.max(maxLength, used) : used;
    const ids = new Int32Array(length).fill(this.padTokenId);
    const attentionMask = new Int32Array(length);
    ids[0] = this.bosTokenId;
    ids.set(content, 1);
    ids[used - 1] = this.eosTokenId;
    attentionMask.fill(1, 0, used);
    return { ids, attentionMask };
  }

  /** Several texts padded and truncated to one length, as a text encoder's [batch, maxLength] input. */
  encodeBatch(texts: readonly string[], options: Omit<ClipEncodeOptions, 'padding' | 'truncation'> = {}): ClipBatchEncoding {
    const maxLength = checkMaxLength(options.maxLength ?? this.modelMaxLength, 'maxLength');
    const ids = new Int32Array(texts.length * maxLength);
    const attentionMask = new Int32Array(texts.length * maxLength);
    texts.forEach((text, row) => {
      const one = this.encode(text, { maxLength, padding: 'max_length', truncation: true });
      ids.set(one.ids, row * maxLength);
      attentionMask.set(one.attentionMask, row * maxLength);
    });
    return { ids, attentionMask, shape: [texts.length, maxLength] };
  }

  /**
   * Text back from ids: CLIP's decode (bytes → UTF-8 with U+FFFD for invalid sequences, "</w>" → space),
   * trimmed as Hugging Face does. Words come back space-separated, so "t-shirt" decodes as "t - shirt".
   * Skipping special tokens also drops the pad token, which for SD 2.x ("!") means literal "!" too, as in
   * Hugging Face; cut ids by the attention mask instead where that matters.
   */
  decode(ids: ArrayLike<number>, options: ClipDecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? true;
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (skip && this.specialIds.has(id)) continue;
      const token = this.decoder.get(id);
      if (token === undefined) {
        throw new GenviewError('BAD_INPUT', `id ${id} at position ${i} is not in the vocabulary (size ${this.vocabSize}).`, {
          where: 'decode',
          fix: 'decode ids made by this same tokenizer.',
        });
      }
      // Special and added tokens are not spelled in byte characters; they stand for their own text.
      chunks.push(this.specialIds.has(id) ? utf8.encode(token) : (decodeByteChars(token) ?? utf8.encode(token)));
    }
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    return new TextDecoder('utf-8').decode(bytes).replaceAll(this.endOfWordSuffix, ' ').trim();
  }

  private textIds(text: string): number[] {
    const ids: number[] = [];
    for (const piece of splitClipPieces(normalizeClipText(text))) {
      if (piece === this.bosToken) ids.push(this.bosTokenId);
      else if (piece === this.eosToken) ids.push(this.eosTokenId);
      else for (const id of this.wordIds(pieceToByteChars(piece))) ids.push(id);
    }
    return ids;
  }

  private wordIds(word: string): readonly number[] {
    const cached = this.cache.get(word);
    if (cached) return cached;
    const ids = bpeWord(word, this.ranks, this.endOfWordSuffix).map((symbol) => {
      const id = this.encoder.get(symbol);
      if (id !== undefined) return id;
      if (this.unkTokenId !== null) return this.unkTokenId;
      throw new GenviewError('BAD_INPUT', `BPE symbol ${JSON.stringify(symbol)} is not in the vocabulary and the tokenizer has no unk token.`, {
        where: 'vocab',
        fix: 'use a vocabulary that contains all 512 byte symbols (as CLIP\'s does), or set unk_token in tokenizer_config.json.',
      });
    });
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }

  private requireId(token: string, role: string): number {
    const id = this.encoder.get(token);
    if (id === undefined) {
      throw new GenviewError('BAD_INPUT', `the ${role} ${JSON.stringify(token)} is not in the vocabulary.`, {
        where: role,
        fix: `add ${JSON.stringify(token)} to the vocabulary, or name a token that is in it.`,
      });
    }
    return id;
  }
}

function checkMaxLength(value: number, where: string): number {
  if (!Number.isInteger(value) || value < 2) {
    throw new GenviewError('BAD_INPUT', `${where} is ${value}; it must be an integer ≥ 2 (room for bos and eos).`, {
      where,
      fix: 'use the text encoder\'s context length, e.g. 77 for CLIP.',
    });
  }
  return value;
}

type JsonObject = Record<string, unknown>;

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new GenviewError('UNREADABLE_FILE', `${path} is not valid JSON: ${error instanceof Error ? error.message : String(error)}.`, {
      where: path,
      fix: 'restore the file from the tokenizer it came from.',
      cause: error,
    });
  }
}

function badShape(where: string, problem: string): GenviewError {
  return new GenviewError('BAD_INPUT', `${problem}.`, { where, fix: 'use a tokenizer file written by Hugging Face tokenizers or writeClipTokenizer.' });
}

function asObject(value: unknown, where: string, what: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badShape(where, `${what} is not a JSON object`);
  return value as JsonObject;
}

function parseVocab(value: unknown, where: string): Map<string, number> {
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(asObject(value, where, 'the vocabulary'))) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw badShape(where, `token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, not a non-negative integer`);
    vocab.set(token, id);
  }
  return vocab;
}

/** merges.txt: one "a b" per line, optionally after a "#version" header line. */
export function parseMergesTxt(text: string, where = 'merges.txt'): [string, string][] {
  const lines = text.split('\n');
  const merges: [string, string][] = [];
  lines.forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (index === 0 && line.startsWith('#version')) return;
    if (line.trim() === '') return;
    const parts = line.trim().split(/ +/);
    if (parts.length !== 2) throw badShape(`${where}:${index + 1}`, `line ${JSON.stringify(line)} is not two symbols separated by a space`);
    merges.push([parts[0], parts[1]]);
  });
  return merges;
}

/** tokenizer.json model.merges: "a b" strings (older files) or [a, b] pairs (tokenizers ≥ 0.20). */
function parseMergeList(value: unknown, where: string): [string, string][] {
  if (!Array.isArray(value)) throw badShape(where, 'model.merges is not a list');
  return value.map((merge, i): [string, string] => {
    if (typeof merge === 'string') {
      const parts = merge.split(' ');
      if (parts.length === 2) return [parts[0], parts[1]];
    } else if (Array.isArray(merge) && merge.length === 2 && typeof merge[0] === 'string' && typeof merge[1] === 'string') {
      return [merge[0], merge[1]];
    }
    throw badShape(where, `model.merges[${i}] is ${JSON.stringify(merge)}, neither "a b" nor ["a", "b"]`);
  });
}

/** A special token as tokenizer_config.json writes it: a string, or an AddedToken object with "content". */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as JsonObject).content === 'string') return (value as JsonObject).content as string;
  return undefined;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function readOptionalJson(path: string): Promise<JsonObject | null> {
  const text = await readFileIfExists(path, 'utf8');
  return text === null ? null : asObject(parseJson(text, path), path, 'the top level');
}

type SpecialTokenConfig = Pick<ClipTokenizerSpec, 'bosToken' | 'eosToken' | 'padToken' | 'unkToken' | 'modelMaxLength'>;

async function readSpecialTokenConfig(dir: string): Promise<Partial<SpecialTokenConfig>> {
  const fromJson = (json: JsonObject | null): Partial<SpecialTokenConfig> =>
    json === null
      ? {}
      : definedOnly({
          bosToken: tokenContent(json.bos_token),
          eosToken: tokenContent(json.eos_token),
          padToken: tokenContent(json.pad_token),
          unkToken: tokenContent(json.unk_token),
        });
  const config = await readOptionalJson(join(dir, 'tokenizer_config.json'));
  const map = await readOptionalJson(join(dir, 'special_tokens_map.json'));
  const maxLength = config?.model_max_length;
  return {
    ...fromJson(config),
    ...fromJson(map),
    ...(typeof maxLength === 'number' ? { modelMaxLength: maxLength } : {}),
  };
}

/** bos/eos from a RobertaProcessing/BertProcessing post-processor's cls/sep, pad from the padding section. */
function tokenizerJsonSpecials(json: JsonObject): Partial<SpecialTokenConfig> {
  const post = typeof json.post_processor === 'object' && json.post_processor !== null ? (json.post_processor as JsonObject) : {};
  const first = (value: unknown) => (Array.isArray(value) && typeof value[0] === 'string' ? value[0] : undefined);
  const padding = typeof json.padding === 'object' && json.padding !== null ? (json.padding as JsonObject) : {};
  return definedOnly({
    bosToken: first(post.cls),
    eosToken: first(post.sep),
    padToken: typeof padding.pad_token === 'string' ? padding.pad_token : undefined,
  });
}
