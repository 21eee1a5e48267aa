import { encodeByteChars } from './byte-unicode';

/** CLIP's special tokens; its vocabulary ends with them, in this order. */
export const CLIP_BOS = '<|startoftext|>';
export const CLIP_EOS = '<|endoftext|>';
/** Marks a word's last symbol, so "red" at the end of a word and "red" inside "redo" are different tokens. */
export const CLIP_END_OF_WORD = '</w>';
/** CLIP's context length; the fallback when a tokenizer folder does not state model_max_length. */
export const CLIP_CONTEXT_LENGTH = 77;

/**
 * CLIP's pre-tokenizer pattern. `\s` is spelled `\p{White_Space}` because JavaScript's `\s` differs
 * from Python `regex`'s (it adds U+FEFF and drops U+0085); the `i` flag is kept because the reference
 * compiles with IGNORECASE, which (like `u` + `i` here) lets `'s` also match `'ſ`.
 */
const CLIP_PATTERN =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\p{White_Space}\p{L}\p{N}]+/giu;

const WHITESPACE_RUN = /\p{White_Space}+/gu;

/**
 * CLIP's text cleanup: NFC, whitespace runs → one space, trimmed, lowercased.
 * The reference also runs ftfy.fix_text (mojibake repair, quote uncurling, ...) and html.unescape; those
 * are not reproduced, so text that needs them (e.g. "&amp;") tokenizes as written. NFC is kept because
 * both ftfy and Hugging Face's fast CLIP tokenizer end with it.
 */
export function normalizeClipText(text: string): string {
  return text.normalize('NFC').replace(WHITESPACE_RUN, ' ').replace(/^ | $/g, '').toLowerCase();
}

/** The pieces CLIP's pattern finds in already-normalised text, as written (not yet byte characters). */
export function splitClipPieces(normalized: string): string[] {
  return normalized.match(CLIP_PATTERN) ?? [];
}

/** A piece as byte characters, the alphabet BPE works in. */
export function pieceToByteChars(piece: string): string {
  return encodeByteChars(piece);
}

/** The key a merge is looked up by; symbols never contain a space (the space byte is U+0120), as in merges.txt. */
export function pairKey(a: string, b: string): string {
  return `${a} ${b}`;
}

/** A word's initial symbols: one per character, the last one carrying the end-of-word suffix. */
export function initialSymbols(word: string, suffix: string): string[] {
  const chars = Array.from(word);
  chars[chars.length - 1] += suffix;
  return chars;
}

/** Replaces every non-overlapping occurrence of (a, b), scanning left to right, by a + b. */
export function mergePair(symbols: readonly string[], a: string, b: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < symbols.length) {
    if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
      out.push(a + b);
      i += 2;
    } else {
      out.push(symbols[i]);
      i += 1;
    }
  }
  return out;
}

/**
 * BPE on one word: repeatedly merge the adjacent pair with the lowest rank until none has a rank.
 * Ranks are unique, so "the lowest" is unambiguous and the result matches CLIP's `bpe()`.
 */
export function bpeWord(word: string, ranks: ReadonlyMap<string, number>, suffix: string): string[] {
  let symbols = initialSymbols(word, suffix);
  while (symbols.length > 1) {
    let bestRank = Number.POSITIVE_INFINITY;
    let best = -1;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const rank = ranks.get(pairKey(symbols[i], symbols[i + 1]));
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) break;
    symbols = mergePair(symbols, symbols[best], symbols[best + 1]);
  }
  return symbols;
}
