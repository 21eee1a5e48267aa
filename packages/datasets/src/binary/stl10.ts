import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { GenviewError, definePlugin, z } from '@genview/core';
import { DATASETS_PACKAGE } from '../package-name';
import { findDataDir, readClassNames } from './data-dir';
import { stl10Layout } from './layouts';
import { type RecordFile, RecordFilesDataset, countRecords } from './record-files';

const STL10_CLASSES = ['airplane', 'bird', 'car', 'cat', 'deer', 'dog', 'horse', 'monkey', 'ship', 'truck'];
const STL10_LAYOUT =
  'the STL-10 binary version: train_X.bin/train_y.bin (5,000 images), test_X.bin/test_y.bin (8,000) and unlabeled_X.bin (100,000); X files hold 96x96x3 uint8 images in column-major order, y files one label byte (1..10) per image; e.g. the stl10_binary folder of stl10_binary.tar.gz';

export const stl10Schema = z
  .object({
    dir: z.string().min(1).describe('folder with the binary files (or the stl10_binary folder inside it)'),
    split: z
      .enum(['train', 'test', 'unlabeled', 'train+unlabeled'])
      .default('train')
      .describe('labelled train (5,000) or test (8,000), the 100,000 unlabelled images, or train and unlabelled together (unlabelled, the usual SSL set)'),
    limit: z.number().int().positive().optional().describe('use only the first N images'),
  })
  .strict();

const FILES: Record<z.output<typeof stl10Schema>['split'], string[]> = {
  train: ['train_X.bin', 'train_y.bin'],
  test: ['test_X.bin', 'test_y.bin'],
  unlabeled: ['unlabeled_X.bin'],
  'train+unlabeled': ['train_X.bin', 'unlabeled_X.bin'],
};

async function readLabels(path: string, images: number, fix: string): Promise<Int32Array> {
  const bytes = await countRecords(path, 1, 'STL-10', fix);
  if (bytes !== images) {
    throw new GenviewError('BAD_INPUT', `STL-10: ${path} holds ${bytes} labels but its images file holds ${images} images.`, { where: path, fix });
  }
  const raw = new Uint8Array(images);
  const handle = await open(path, 'r');
  try {
    await handle.read(raw, 0, images, 0);
  } finally {
    await handle.close();
  }
  return Int32Array.from(raw, (label, i) => {
    if (label < 1 || label > 10) {
      throw new GenviewError('BAD_INPUT', `STL-10: ${path} label ${i} is ${label}; labels are 1..10.`, { where: path, fix });
    }
    return label - 1;
  });
}

/** STL-10 from its binary version: 96x96 RGB read on demand (the unlabelled split is 2.7 GB), labels 0..9. */
export async function loadStl10(config: z.output<typeof stl10Schema>, where = 'stl-10'): Promise<RecordFilesDataset> {
  const names = FILES[config.split];
  const dir = findDataDir(
    config.dir,
    {
      what: 'STL-10',
      files: names,
      subfolders: ['stl10_binary'],
      otherEditions: [{ marker: 'train.mat', advice: 'that is the MATLAB version; use the binary version (stl10_binary.tar.gz, files train_X.bin, ...).' }],
      layout: STL10_LAYOUT,
    },
    where,
  );
  const layout = stl10Layout();
  const fix = `use ${STL10_LAYOUT}.`;
  const imageFiles = names.filter((n) => n.includes('_X'));
  const files: RecordFile[] = [];
  for (const name of imageFiles) {
    const path = join(dir, name);
    files.push({ path, count: await countRecords(path, layout.recordBytes, 'STL-10', fix) });
  }
  const labelFile = names.find((n) => n.endsWith('_y.bin'));
  const labels = labelFile ? await readLabels(join(dir, labelFile), files[0].count, fix) : undefined;
  const classNames = labels ? (readClassNames(join(dir, 'class_names.txt'), 10) ?? STL10_CLASSES) : undefined;
  return new RecordFilesDataset(files, layout, { name: `stl-10/${config.split}`, classNames }, labels, config.limit);
}

export const stl10Plugin = definePlugin({
  kind: 'dataset',
  name: 'stl-10',
  package: DATASETS_PACKAGE,
  description: 'STL-10 (binary version) from a local folder: 96x96 RGB, labelled train/test and the unlabelled split, read on demand.',
  configSchema: stl10Schema,
  create: (config, context) => loadStl10(config, context.path),
});
