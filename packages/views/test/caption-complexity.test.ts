import { EventBus, Registry, Rng, isGenviewError } from '@genview/core';
import { describe, expect, it } from 'vitest';
import { sampleShapeScene } from '@genview/datasets';
import { RuleBasedComplexityScorer, complexityForCount, guidanceForComplexity, plugins } from '../src/index';

const scorer = new RuleBasedComplexityScorer();
const registry = new Registry().register(plugins);
const context = () => ({ rng: new Rng(0), events: new EventBus(), path: 'complexity' });

describe('rule-based caption complexity', () => {
  it('scores hand-picked captions of known complexity', async () => {
    const cases: [string, number][] = [
      // Broad object types only.
      ['a sneaker', 1],
      ['a photo of a dog', 1],
      ['a small photo of a coat', 1],
      ['A picture of a pair of trousers.', 1],
      // One to three constraints.
      ['a red circle', 2],
      ['a large striped green triangle', 2],
      ['a cat and a dog', 2],
      ['a black and white photo of a cat', 2],
      ['a sneaker on a black background', 2],
      // Four to six.
      ['a small red circle left of a large blue square', 3],
      ['a man riding a brown horse on a sunny beach', 3],
      // More than six.
      ['a small dotted red circle above a large striped blue square', 4],
      ['two fluffy brown dogs running on a wooden floor next to a red ball, watercolor', 4],
    ];
    const scores = await scorer.score(cases.map(([c]) => c));
    expect(cases.map(([c], i) => [c, scores[i]])).toEqual(cases);
  });

  it('counts each kind of constraint, phrases once', () => {
    expect(scorer.count('a small dotted red circle above a large striped blue square')).toMatchObject({
      objects: 2,
      extraObjects: 1,
      sizes: 2,
      textures: 2,
      colors: 2,
      relations: 1,
      counts: 0,
      actions: 0,
      styles: 0,
      total: 8,
    });
    expect(scorer.count('two fluffy brown dogs running on a wooden floor next to a red ball, watercolor')).toMatchObject({
      objects: 3,
      counts: 1,
      textures: 2,
      colors: 2,
      relations: 2,
      actions: 1,
      styles: 1,
      total: 11,
    });
    // "black and white" is one style, not two colours joined by "and"; "to the left of" one relation.
    expect(scorer.count('a black and white cat to the left of 3 dogs')).toMatchObject({ styles: 1, colors: 0, relations: 1, counts: 1, objects: 2 });
    // Nouns outside the list still count as objects when phrases are joined.
    expect(scorer.count('a zorb and a quokka')).toMatchObject({ objects: 2, extraObjects: 1, total: 1 });
    expect(scorer.count('')).toMatchObject({ objects: 0, total: 0 });
  });

  it('maps counts to 1..4 with the LLM bands, or configured ones', () => {
    expect([0, 1, 3, 4, 6, 7, 20].map((n) => complexityForCount(n))).toEqual([1, 2, 2, 3, 3, 4, 4]);
    const strict = new RuleBasedComplexityScorer({ thresholds: [1, 2, 3] });
    expect(strict.scoreOne('a red circle')).toBe(1);
    expect(strict.scoreOne('a large striped green triangle')).toBe(3);
    expect(() => new RuleBasedComplexityScorer({ thresholds: [3, 2, 1] })).toThrow(/thresholds/);
  });

  it('takes extra words and phrases per kind', () => {
    const custom = new RuleBasedComplexityScorer({ extraWords: { colors: ['chartreuse'], styles: ['ukiyo e'] } });
    expect(scorer.scoreOne('a chartreuse cat')).toBe(1);
    expect(custom.count('a chartreuse cat in ukiyo e')).toMatchObject({ colors: 1, styles: 1 });
  });

  it('ranks captioned-shapes captions: one object 2, two related objects 3 or 4', () => {
    for (let i = 0; i < 200; i++) {
      const { caption, objects } = sampleShapeScene(0, i);
      const score = scorer.scoreOne(caption);
      if (objects.length === 1) expect(score, caption).toBe(2);
      else expect([3, 4], caption).toContain(score);
    }
  });

  it('maps complexity 1/2/3/4 to guidance 8/6/4/2 (GenView++), or a given table', () => {
    expect([1, 2, 3, 4].map((s) => guidanceForComplexity(s))).toEqual([8, 6, 4, 2]);
    expect(guidanceForComplexity(3, [9, 7, 5, 3])).toBe(5);
    for (const bad of [0, 5, 2.5]) {
      let caught: unknown;
      try {
        guidanceForComplexity(bad);
      } catch (error) {
        caught = error;
      }
      expect(isGenviewError(caught, 'BAD_INPUT'), String(caught)).toBe(true);
    }
  });

  it('is the "rule-based" complexity plugin, config validated', async () => {
    const plugin = await registry.create('complexity', { name: 'rule-based', thresholds: [1, 2, 3] }, context());
    expect(plugin.name).toBe('rule-based');
    expect(await plugin.score(['a red circle', 'a large striped green triangle'])).toEqual([1, 3]);
    await expect(registry.create('complexity', { name: 'rule-based', thresholds: [3, 2, 1] }, context())).rejects.toThrow(/complexity\.thresholds/);
    await expect(registry.create('complexity', { name: 'rule-based', extraWords: { smells: ['musty'] } }, context())).rejects.toThrow(/smells/);
  });
});
