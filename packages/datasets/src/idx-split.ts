import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GenviewError } from '@genview/core';
import { InMemoryDataset } from './in-memory';
import { readIdxCached } from './idx';

export type IdxSplit = 'train' | 'test';

/** The original file stems; "t10k" is the test split. */
export const IDX_FILE_STEMS: Record<IdxSplit, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

/** Accepts the stem as distributed (.gz), unpacked, and the common "train-images.idx3-ubyte" re-packaging. */
function candidates(stem: string): string[] {
  const dotted = stem.replace(/-(idx\d)/, '.$1');
  return [`${stem}.gz`, stem, `${dotted}.gz`, dotted];
}

export function findIdxFile(dir: string, stem: string, where: string, fix: string): string {
  for (const name of candidates(stem)) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new GenviewError('NOT_FOUND', `no ${stem}[.gz] in ${dir}.`, { where, fix });
}

export interface IdxSplitOptions {
  dir: string;
  split: IdxSplit;
  name: string;
  classNames: string[];
  limit?: number;
  /** Config path for messages, e.g. "dataset.dir". */
  where: string;
  /** What to tell the user when a file is missing. */
  missingFix: string;
}

/** Loads one split (images + labels) of an MNIST-format folder as an in-memory uint8 dataset. */
export async function loadIdxSplit(options: IdxSplitOptions): Promise<InMemoryDataset> {
  const stems = IDX_FILE_STEMS[options.split];
  const imagesFile = findIdxFile(options.dir, stems.images, options.where, options.missingFix);
  const labelsFile = findIdxFile(options.dir, stems.labels, options.where, options.missingFix);
  const [images, labels] = await Promise.all([readIdxCached(imagesFile, 'images'), readIdxCached(labelsFile, 'labels')]);
  const [n, h, w] = images.dims;
  if (labels.dims[0] !== n) {
    throw new GenviewError('UNREADABLE_FILE', `${imagesFile} holds ${n} images but ${labelsFile} holds ${labels.dims[0]} labels.`, {
      where: options.where,
      fix: 'use an images file and a labels file of the same split.',
    });
  }
  const count = options.limit === undefined ? n : Math.min(n, options.limit);
  // Views into the cached buffers: limiting rows copies nothing.
  const pixels = images.data.subarray(0, count * h * w);
  const rowLabels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = labels.data[i];
    if (label >= options.classNames.length) {
      throw new GenviewError('UNREADABLE_FILE', `label ${i} is ${label}, but ${options.name} has ${options.classNames.length} classes.`, {
        where: labelsFile,
        fix: 'check that the folder holds the right dataset.',
      });
    }
    rowLabels[i] = label;
  }
  return new InMemoryDataset(pixels, [count, h, w, 1], { name: options.name, labels: rowLabels, classNames: options.classNames });
}
