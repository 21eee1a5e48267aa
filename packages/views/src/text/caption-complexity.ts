import { type CaptionComplexityScorer, GenviewError, definePlugin, z } from '@genview/core';
import { FRAMING, NOT_ACTIONS, PHRASE_OPENERS, VISUAL_PHRASES, VISUAL_WORDS, VISUAL_WORD_KINDS, type VisualWordKind } from './visual-words';

/**
 * Upper bounds of the constraint count for scores 1, 2 and 3 (above the last: 4). GenView++'s LLM
 * instruction: only broad object types → 1, one to three constraints → 2, four to six → 3, more → 4.
 */
export const DEFAULT_COMPLEXITY_THRESHOLDS: readonly [number, number, number] = [0, 3, 6];

/** GenView++: guidance 8/6/4/2 for complexity 1/2/3/4; richer captions need less guidance. */
export const GENVIEW_PP_GUIDANCE: readonly [number, number, number, number] = [8, 6, 4, 2];

/** Concrete visual constraints found in one caption, by kind. */
export type ConstraintCounts = Record<VisualWordKind, number> & {
  /** Objects beyond the first: naming one thing is no constraint, each further thing is. */
  extraObjects: number;
  /** What the score is read from: extraObjects plus every kind but `objects`. */
  total: number;
};

export function checkComplexity(score: number, where: string): void {
  if (!(Number.isInteger(score) && score >= 1 && score <= 4)) {
    throw new GenviewError('BAD_INPUT', `a caption complexity must be an integer in 1..4, got ${score}.`, {
      where,
      fix: 'use a complexity scorer that returns 1..4 (rule-based does).',
    });
  }
}

/** The guidance scale for a complexity score; `table` lists the scales of scores 1..4. */
export function guidanceForComplexity(score: number, table: readonly number[] = GENVIEW_PP_GUIDANCE): number {
  checkComplexity(score, 'guidanceForComplexity');
  return table[score - 1] as number;
}

/** Score 1..4 from a constraint count. */
export function complexityForCount(total: number, thresholds: readonly number[] = DEFAULT_COMPLEXITY_THRESHOLDS): number {
  for (let i = 0; i < 3; i++) if (total <= (thresholds[i] as number)) return i + 1;
  return 4;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function singular(word: string, nouns: ReadonlySet<string>): boolean {
  if (nouns.has(word)) return true;
  if (word.endsWith('ies') && nouns.has(`${word.slice(0, -3)}y`)) return true;
  if (word.endsWith('es') && nouns.has(word.slice(0, -2))) return true;
  return word.endsWith('s') && nouns.has(word.slice(0, -1));
}

export interface RuleBasedComplexityOptions {
  /** Upper bounds of the count for scores 1, 2, 3 (default [0, 3, 6]). */
  thresholds?: readonly number[];
  /** Extra words or phrases per kind (several words make a phrase), added to the built-in lists. */
  extraWords?: Partial<Record<VisualWordKind, readonly string[]>>;
}

/** Kinds checked in this order for a word in several lists ("drawing": a style before an action). */
const LOOKUP_ORDER: readonly VisualWordKind[] = ['styles', 'colors', 'textures', 'sizes', 'lighting', 'relations', 'counts', 'actions'];

/**
 * Offline stand-in for GenView++'s LLM complexity judge: counts concrete visual constraints by word
 * lists (objects, counts, colours, textures and materials, sizes, lighting, spatial relations, actions,
 * style) and maps the count to 1..4 with the LLM's own bands. Framing such as "a photo of" is not content.
 */
export class RuleBasedComplexityScorer implements CaptionComplexityScorer {
  readonly name = 'rule-based';
  readonly thresholds: readonly number[];
  private readonly words = new Map<VisualWordKind, Set<string>>();
  /** Longest first, so a phrase is counted before any phrase inside it. */
  private readonly phrases: { kind: VisualWordKind; pattern: RegExp; length: number }[] = [];

  constructor(options: RuleBasedComplexityOptions = {}) {
    this.thresholds = options.thresholds ?? DEFAULT_COMPLEXITY_THRESHOLDS;
    const t = this.thresholds;
    if (!(t.length === 3 && t.every((v) => Number.isInteger(v) && v >= 0) && (t[0] as number) < (t[1] as number) && (t[1] as number) < (t[2] as number))) {
      throw new GenviewError('INVALID_CONFIG', `thresholds must be three increasing non-negative integers, got ${JSON.stringify(t)}.`, {
        where: 'rule-based.thresholds',
        fix: 'e.g. [0, 3, 6]: count 0 → 1, 1–3 → 2, 4–6 → 3, more → 4.',
      });
    }
    for (const kind of VISUAL_WORD_KINDS) {
      const extra = (options.extraWords?.[kind] ?? []).map((w) => w.trim().toLowerCase()).filter(Boolean);
      this.words.set(kind, new Set([...VISUAL_WORDS[kind], ...extra.filter((w) => !/\s/.test(w))]));
      for (const phrase of [...VISUAL_PHRASES[kind], ...extra.filter((w) => /\s/.test(w))]) {
        this.phrases.push({ kind, pattern: new RegExp(`(?<= )${escapeRegExp(phrase)}(?= )`, 'g'), length: phrase.length });
      }
    }
    this.phrases.sort((a, b) => b.length - a.length);
  }

  count(caption: string): ConstraintCounts {
    const counts = Object.fromEntries(VISUAL_WORD_KINDS.map((k) => [k, 0])) as Record<VisualWordKind, number>;
    const cleaned = caption.toLowerCase().replace(/'s\b/g, '').replace(/[^a-z0-9\- ]+/g, ' ').replace(/\s+/g, ' ').trim();
    let text = ` ${cleaned} `.replace(FRAMING, ' ');
    for (const { kind, pattern } of this.phrases) {
      // A placeholder keeps the phrase's place, so "and a group of cats" still reads as a new noun phrase.
      text = text.replace(pattern, () => {
        counts[kind]++;
        return `#${kind}`;
      });
    }
    const tokens = text.split(' ').filter(Boolean);
    let joins = 0;
    tokens.forEach((token, i) => {
      if (token.startsWith('#')) return;
      const next = tokens[i + 1];
      if ((token === 'and' || token === 'with') && next !== undefined && (PHRASE_OPENERS.has(next) || next === '#counts' || /^\d+$/.test(next))) joins++;
      if (/^\d+$/.test(token)) {
        counts.counts++;
        return;
      }
      const kind = LOOKUP_ORDER.find((k) => this.words.get(k)?.has(token));
      if (kind) counts[kind]++;
      else if (singular(token, this.words.get('objects') as Set<string>)) counts.objects++;
      else if (token.length >= 5 && token.endsWith('ing') && !NOT_ACTIONS.has(token)) counts.actions++;
    });
    // Nouns outside the list still show up as joined phrases: "a zorb and a quokka" is two things.
    const objects = tokens.length === 0 ? 0 : Math.max(counts.objects, 1 + joins + counts.relations);
    counts.objects = objects;
    const extraObjects = Math.max(0, objects - 1);
    const total = extraObjects + VISUAL_WORD_KINDS.filter((k) => k !== 'objects').reduce((sum, k) => sum + counts[k], 0);
    return { ...counts, extraObjects, total };
  }

  /** The 1..4 score of one caption. */
  scoreOne(caption: string): number {
    return complexityForCount(this.count(caption).total, this.thresholds);
  }

  async score(captions: readonly string[]): Promise<number[]> {
    return captions.map((c) => this.scoreOne(c));
  }
}

const kindList = z.array(z.string().min(1));

export const ruleBasedComplexitySchema = z
  .object({
    thresholds: z
      .array(z.number().int().min(0))
      .length(3)
      .refine((t) => (t[0] as number) < (t[1] as number) && (t[1] as number) < (t[2] as number), { message: 'thresholds must increase strictly' })
      .default([...DEFAULT_COMPLEXITY_THRESHOLDS])
      .describe('upper bounds of the constraint count for scores 1, 2, 3 (above: 4)'),
    extraWords: z
      .object(Object.fromEntries(VISUAL_WORD_KINDS.map((k) => [k, kindList.optional()])) as Record<VisualWordKind, z.ZodOptional<typeof kindList>>)
      .strict()
      .default({})
      .describe('words or phrases added to the built-in lists, per kind'),
  })
  .strict();

export const ruleBasedComplexityPlugin = definePlugin({
  kind: 'complexity',
  name: 'rule-based',
  package: '@genview/views',
  description: "Caption visual complexity 1..4 by counting concrete constraints (objects, counts, colours, textures, sizes, lighting, relations, actions, style), with GenView++'s LLM bands.",
  configSchema: ruleBasedComplexitySchema,
  create: (config) => new RuleBasedComplexityScorer(config),
});
