import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type EventBus, GenviewError, type Tokenizer } from '@genview/core';
import { ClipTokenizer, clipBaseVocabulary, trainClipBpe, writeClipTokenizer } from '@genview/views';
import type { RunConfig } from '../config/schema';
import { memoByName } from './memo-by-name';

/** The folder in a run directory that holds the tokenizer learned from its captions. */
export const TOKENIZER_DIR = 'tokenizer';

/** The host name of the tokenizer trained on data.train's captions. */
export const CAPTIONS_TOKENIZER = 'captions';

/** 512 byte symbols plus start and end of text: what every CLIP vocabulary holds before any merge. */
const BASE_VOCABULARY = clipBaseVocabulary().length + 2;

export interface TokenizerSourceOptions {
  /** The run directory the captions tokenizer is written to and read back from. */
  runDir: string;
  /** Read a tokenizer the run already saved (resume, eval) instead of learning it again. */
  reuse: boolean;
  /** How the captions tokenizer is learned. */
  settings: RunConfig['tokenizer'];
  /** The training captions, when a dataset with captions is at hand. */
  captions?: { dataset: string; texts?: readonly string[] };
  events: EventBus;
}

/** A tokenizer cut or padded to another row length than its files say. */
function withContextLength(tokenizer: ClipTokenizer, contextLength: number | undefined): Tokenizer {
  if (contextLength === undefined || contextLength === tokenizer.contextLength) return tokenizer;
  return {
    vocabSize: tokenizer.vocabSize,
    eosTokenId: tokenizer.eosTokenId,
    contextLength,
    encodeBatch: (texts) => tokenizer.encodeBatch(texts, { maxLength: contextLength }),
  };
}

/** A CLIP tokenizer from a path: a folder (vocab.json + merges.txt, or tokenizer.json) or a tokenizer.json file. */
async function loadTokenizerPath(path: string): Promise<ClipTokenizer> {
  const full = resolve(path);
  if (!existsSync(full)) {
    throw new GenviewError('NOT_FOUND', `no tokenizer at ${full}.`, {
      where: 'framework.tokenizer',
      fix: `name "${CAPTIONS_TOKENIZER}" (learned from data.train's captions) or the path of a CLIP tokenizer folder or tokenizer.json.`,
    });
  }
  return statSync(full).isDirectory() ? ClipTokenizer.fromFiles(full) : ClipTokenizer.fromTokenizerJson(full);
}

/**
 * The runner's `services.tokenizer(name)`. "captions" is learned once per run from the training
 * captions and written to <runDir>/tokenizer, then always read back from there: training, a resumed
 * run, `genview eval` and checkpoint:<dir> encoders all encode text with the very same files.
 * Any other name is a path to a CLIP tokenizer. Each name is built once per source.
 */
export function tokenizerSource(options: TokenizerSourceOptions): (name: string) => Promise<Tokenizer> {

  const fromCaptions = async (): Promise<Tokenizer> => {
    const dir = join(resolve(options.runDir), TOKENIZER_DIR);
    if (options.reuse && existsSync(join(dir, 'vocab.json'))) {
      const saved = await ClipTokenizer.fromFiles(dir);
      options.events.log('tokenizer', `captions tokenizer: loaded from ${dir} (vocabulary ${saved.vocabSize}, context ${saved.contextLength})`);
      return saved;
    }
    const texts = options.captions?.texts;
    if (!texts || texts.length === 0) {
      const dataset = options.captions?.dataset ?? 'data.train';
      throw new GenviewError('BAD_INPUT', `dataset ${dataset} has no captions to learn the "${CAPTIONS_TOKENIZER}" tokenizer from${options.reuse ? `, and ${dir} holds no saved one` : ''}.`, {
        where: 'data.train',
        fix: 'use a dataset with captions (captioned-shapes, or fashion-mnist with captions: true), or set framework.tokenizer to a CLIP tokenizer path.',
      });
    }
    const { merges, minFrequency, contextLength } = options.settings;
    const model = trainClipBpe(texts, { vocabSize: BASE_VOCABULARY + merges, minFrequency });
    await writeClipTokenizer(dir, model, contextLength === undefined ? {} : { maxLength: contextLength });
    const learned = await ClipTokenizer.fromFiles(dir);
    options.events.log('tokenizer', `captions tokenizer: learned ${model.merges.length} merges from ${texts.length} captions, saved to ${dir}`);
    return learned;
  };

  const build = async (name: string): Promise<Tokenizer> => {
    if (name === CAPTIONS_TOKENIZER) return fromCaptions();
    return withContextLength(await loadTokenizerPath(name), options.settings.contextLength);
  };

  const tokenizers = memoByName(build);
  return (name: string) => tokenizers.get(name);
}
