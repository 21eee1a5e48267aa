import { GenviewError } from '@genview/core';
import { CLIP_CONTEXT_LENGTH } from './clip-text';
import { ClipTokenizer } from './clip-tokenizer';
import { clipBaseVocabulary, trainClipBpe } from './train-bpe';

export interface CaptionTokenizerOptions {
  /** Final vocabulary size (≥ 514: 512 byte symbols + 2 special tokens). Give this or `merges`. */
  vocabSize?: number;
  /** Merges to learn; the vocabulary is then 514 + merges. Give this or `vocabSize`. */
  merges?: number;
  /** Row length of encodeBatch, bos and eos included (default 77, CLIP's). */
  contextLength?: number;
  /**
   * A pair seen fewer times is never merged (default 2, as trainClipBpe); training stops when none is
   * left, so a small caption set can end below the requested size. Read the result's vocabSize.
   */
  minFrequency?: number;
}

const SPECIAL_TOKENS = 2;

/**
 * A CLIP-style tokenizer learned from a local caption set, for text towers trained from scratch where
 * no pretrained vocabulary exists (or a 49k-row embedding table would dwarf the model). It spells text
 * exactly as CLIP's tokenizer does, so a pretrained CLIP tokenizer can replace it without other changes.
 */
export function trainCaptionTokenizer(captions: readonly string[], options: CaptionTokenizerOptions): ClipTokenizer {
  const base = clipBaseVocabulary().length + SPECIAL_TOKENS;
  if ((options.vocabSize === undefined) === (options.merges === undefined)) {
    throw new GenviewError('INVALID_CONFIG', 'give exactly one of vocabSize and merges.', {
      where: 'trainCaptionTokenizer.vocabSize',
      fix: `e.g. { merges: 1000 } (a vocabulary of ${base + 1000}) or { vocabSize: 2048 }.`,
    });
  }
  if (options.merges !== undefined && !(Number.isInteger(options.merges) && options.merges >= 0)) {
    throw new GenviewError('INVALID_CONFIG', `merges is ${options.merges}; it must be an integer ≥ 0.`, {
      where: 'trainCaptionTokenizer.merges',
      fix: 'ask for a few hundred to a few thousand merges for a caption set.',
    });
  }
  const contextLength = options.contextLength ?? CLIP_CONTEXT_LENGTH;
  if (!(Number.isInteger(contextLength) && contextLength >= 2)) {
    throw new GenviewError('INVALID_CONFIG', `contextLength is ${contextLength}; it must be an integer ≥ 2 (bos and eos).`, {
      where: 'trainCaptionTokenizer.contextLength',
      fix: 'use the longest caption in tokens plus 2, or CLIP\'s 77.',
    });
  }
  if (captions.length === 0) {
    throw new GenviewError('EMPTY_DATASET', 'there are no captions to learn merges from.', {
      where: 'trainCaptionTokenizer.captions',
      fix: 'pass the training set\'s captions (a dataset\'s `captions`).',
    });
  }
  const vocabSize = options.vocabSize ?? base + (options.merges as number);
  const model = trainClipBpe(captions, { vocabSize, minFrequency: options.minFrequency });
  return new ClipTokenizer({ vocab: model.vocab, merges: model.merges, modelMaxLength: contextLength });
}
