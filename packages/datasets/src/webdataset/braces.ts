import { GenviewError } from '@genview/core';

/** More shards than this from one pattern is almost surely a typo ({0..9999999}). */
const MAX_EXPANSION = 1_000_000;

function alternatives(body: string, pattern: string, where: string): string[] {
  const range = /^(-?\d+)\.\.(-?\d+)$/.exec(body);
  if (range) {
    const [from, to] = [Number(range[1]), Number(range[2])];
    // Zero padding as in bash and WebDataset: {000..009} keeps the width of the wider endpoint.
    const padded = /^-?0\d/.test(range[1]) || /^-?0\d/.test(range[2]);
    const width = padded ? Math.max(range[1].replace('-', '').length, range[2].replace('-', '').length) : 0;
    const count = Math.abs(to - from) + 1;
    if (count > MAX_EXPANSION) {
      throw new GenviewError('INVALID_CONFIG', `the shard pattern ${pattern} expands {${body}} to ${count} names.`, { where, fix: `use a range of at most ${MAX_EXPANSION} shards.` });
    }
    const step = to >= from ? 1 : -1;
    return Array.from({ length: count }, (_, i) => {
      const n = from + i * step;
      return `${n < 0 ? '-' : ''}${String(Math.abs(n)).padStart(width, '0')}`;
    });
  }
  // Split on top-level commas only, so {a,{b,c}} nests.
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '{') depth++;
    else if (body[i] === '}') depth--;
    else if (body[i] === ',' && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  if (parts.length < 2) {
    throw new GenviewError('INVALID_CONFIG', `the shard pattern ${pattern} has {${body}}, which is neither a range nor a list.`, {
      where,
      fix: 'write a numeric range {000..009} or a comma list {train,extra}.',
    });
  }
  return parts.flatMap((part) => expandBraces(part, where, pattern));
}

/**
 * Expands a WebDataset-style shard pattern: `shards-{000..009}.tar` (numeric range, zero-padded to the
 * wider endpoint), `{train,extra}-{0..3}.tar` (lists, nested braces and several groups), in order.
 * A pattern without braces is returned as it is.
 */
export function expandBraces(pattern: string, where = 'shards', whole = pattern): string[] {
  const open = pattern.indexOf('{');
  if (open === -1) {
    if (pattern.includes('}')) throw new GenviewError('INVALID_CONFIG', `the shard pattern ${whole} has a "}" without its "{".`, { where, fix: 'balance the braces.' });
    return [pattern];
  }
  let depth = 0;
  let close = -1;
  for (let i = open; i < pattern.length; i++) {
    if (pattern[i] === '{') depth++;
    else if (pattern[i] === '}' && --depth === 0) {
      close = i;
      break;
    }
  }
  if (close === -1) throw new GenviewError('INVALID_CONFIG', `the shard pattern ${whole} has a "{" without its "}".`, { where, fix: 'balance the braces.' });
  const head = pattern.slice(0, open);
  const rest = expandBraces(pattern.slice(close + 1), where, whole);
  const out: string[] = [];
  for (const middle of alternatives(pattern.slice(open + 1, close), whole, where)) for (const tail of rest) out.push(head + middle + tail);
  if (out.length > MAX_EXPANSION) {
    throw new GenviewError('INVALID_CONFIG', `the shard pattern ${whole} expands to ${out.length} names.`, { where, fix: `use at most ${MAX_EXPANSION} shards.` });
  }
  return out;
}
