/**
 * GPT-2 / CLIP byte-to-character table. Byte-level BPE works on strings, so every UTF-8 byte needs a
 * character of its own; printable Latin-1 bytes keep their own code point (vocabularies stay readable)
 * and the rest (controls, space, soft hyphen) are shifted to U+0100.. so no symbol is ever whitespace,
 * a control character or a separator that merges.txt or a regex would choke on.
 */

function isPrintableByte(b: number): boolean {
  return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

function buildTable(): { order: number[]; chars: string[] } {
  const order: number[] = [];
  const chars: string[] = new Array(256);
  for (let b = 0; b < 256; b++) {
    if (isPrintableByte(b)) {
      order.push(b);
      chars[b] = String.fromCharCode(b);
    }
  }
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    if (!isPrintableByte(b)) {
      order.push(b);
      chars[b] = String.fromCharCode(256 + shifted++);
    }
  }
  return { order, chars };
}

const table = buildTable();

/**
 * The 256 bytes in CLIP's order: printable ones first, then the shifted ones. CLIP's base vocabulary
 * lists the byte characters in exactly this order, so a byte's position here is its token id.
 */
export const CLIP_BYTE_ORDER: readonly number[] = table.order;

/** Byte value → its character. */
export const BYTE_TO_UNICODE: readonly string[] = table.chars;

/** Character → byte value (the inverse of BYTE_TO_UNICODE). */
export const UNICODE_TO_BYTE: ReadonlyMap<string, number> = new Map(table.chars.map((c, b) => [c, b]));

/** The table as CLIP's `bytes_to_unicode()` returns it: [byte, char] pairs in CLIP's order. */
export function bytesToUnicode(): [number, string][] {
  return table.order.map((b) => [b, table.chars[b]]);
}

const utf8Encoder = new TextEncoder();

/** A string's UTF-8 bytes spelled as byte characters. */
export function encodeByteChars(text: string): string {
  let out = '';
  for (const b of utf8Encoder.encode(text)) out += table.chars[b];
  return out;
}

/**
 * Byte characters back to bytes; returns null at the first character that is not a byte character,
 * so callers decide whether that is an error.
 */
export function decodeByteChars(chars: string): Uint8Array | null {
  const bytes = new Uint8Array(chars.length);
  for (let i = 0; i < chars.length; i++) {
    const b = UNICODE_TO_BYTE.get(chars[i]);
    if (b === undefined) return null;
    bytes[i] = b;
  }
  return bytes;
}
