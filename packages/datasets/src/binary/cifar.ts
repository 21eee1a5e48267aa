import { join } from 'node:path';
import { definePlugin, z } from '@genview/core';
import { DATASETS_PACKAGE } from '../package-name';
import { findDataDir, readClassNames } from './data-dir';
import { cifarLayout } from './layouts';
import { type RecordFile, RecordFilesDataset, countRecords } from './record-files';
import { readRecordLabels } from './record-labels';

const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const CIFAR10_TRAIN = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
const CIFAR10_LAYOUT = 'the CIFAR-10 binary version: data_batch_1.bin ... data_batch_5.bin and test_batch.bin (10,000 records of 1 label byte + 3,072 pixel bytes each), e.g. the cifar-10-batches-bin folder of cifar-10-binary.tar.gz';
const CIFAR100_LAYOUT = 'the CIFAR-100 binary version: train.bin and test.bin (records of 1 coarse + 1 fine label byte + 3,072 pixel bytes), e.g. the cifar-100-binary folder of cifar-100-binary.tar.gz';

const splitSchema = z.enum(['train', 'test']).default('train').describe('official split: 50,000 train or 10,000 test images');
const limitSchema = z.number().int().positive().optional().describe('use only the first N images');

export const cifar10Schema = z
  .object({
    dir: z.string().min(1).describe('folder with the binary files (or the cifar-10-batches-bin folder inside it)'),
    split: splitSchema,
    limit: limitSchema,
  })
  .strict();

export const cifar100Schema = z
  .object({
    dir: z.string().min(1).describe('folder with train.bin/test.bin (or the cifar-100-binary folder inside it)'),
    split: splitSchema,
    labels: z.enum(['fine', 'coarse']).default('fine').describe('100 fine classes or 20 superclasses'),
    limit: limitSchema,
  })
  .strict();

async function recordFiles(dir: string, names: readonly string[], recordBytes: number, what: string, fix: string): Promise<RecordFile[]> {
  const files: RecordFile[] = [];
  for (const name of names) {
    const path = join(dir, name);
    files.push({ path, count: await countRecords(path, recordBytes, what, fix) });
  }
  return files;
}

async function labelsOf(files: readonly RecordFile[], recordBytes: number, offset: number, classes: number, fix: string): Promise<Int32Array> {
  const parts = await Promise.all(files.map((f) => readRecordLabels(f.path, f.count, recordBytes, offset, classes, fix)));
  const labels = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    labels.set(part, at);
    at += part.length;
  }
  return labels;
}

/** CIFAR-10 from its binary version in a user directory: 32x32 RGB, read on demand, labels in memory. */
export async function loadCifar10(config: z.output<typeof cifar10Schema>, where = 'cifar-10'): Promise<RecordFilesDataset> {
  const names = config.split === 'train' ? CIFAR10_TRAIN : ['test_batch.bin'];
  const dir = findDataDir(
    config.dir,
    {
      what: 'CIFAR-10',
      files: names,
      subfolders: ['cifar-10-batches-bin'],
      otherEditions: [
        { marker: 'data_batch_1', advice: 'that is the python (pickle) version; use the binary version (cifar-10-binary.tar.gz, files data_batch_N.bin).' },
        { marker: 'cifar-10-batches-py', advice: 'that is the python (pickle) version; use the binary version (cifar-10-binary.tar.gz, files data_batch_N.bin).' },
      ],
      layout: CIFAR10_LAYOUT,
    },
    where,
  );
  const layout = cifarLayout(1);
  const fix = `use ${CIFAR10_LAYOUT}.`;
  const files = await recordFiles(dir, names, layout.recordBytes, 'CIFAR-10', fix);
  const labels = await labelsOf(files, layout.recordBytes, 0, 10, fix);
  const classNames = readClassNames(join(dir, 'batches.meta.txt'), 10) ?? CIFAR10_CLASSES;
  return new RecordFilesDataset(files, layout, { name: `cifar-10/${config.split}`, classNames }, labels, config.limit);
}

/** CIFAR-100 from its binary version: fine (100) or coarse (20) labels. */
export async function loadCifar100(config: z.output<typeof cifar100Schema>, where = 'cifar-100'): Promise<RecordFilesDataset> {
  const name = `${config.split}.bin`;
  const dir = findDataDir(
    config.dir,
    {
      what: 'CIFAR-100',
      files: [name],
      subfolders: ['cifar-100-binary'],
      otherEditions: [
        { marker: 'cifar-100-python', advice: 'that is the python (pickle) version; use the binary version (cifar-100-binary.tar.gz, files train.bin and test.bin).' },
        { marker: 'meta', advice: 'that is the python (pickle) version; use the binary version (cifar-100-binary.tar.gz, files train.bin and test.bin).' },
      ],
      layout: CIFAR100_LAYOUT,
    },
    where,
  );
  const layout = cifarLayout(2);
  const fix = `use ${CIFAR100_LAYOUT}.`;
  const files = await recordFiles(dir, [name], layout.recordBytes, 'CIFAR-100', fix);
  const fine = config.labels === 'fine';
  const classes = fine ? 100 : 20;
  const labels = await labelsOf(files, layout.recordBytes, fine ? 1 : 0, classes, fix);
  const classNames =
    readClassNames(join(dir, fine ? 'fine_label_names.txt' : 'coarse_label_names.txt'), classes) ?? Array.from({ length: classes }, (_, i) => String(i));
  return new RecordFilesDataset(files, layout, { name: `cifar-100/${config.split}`, classNames }, labels, config.limit);
}

export const cifar10Plugin = definePlugin({
  kind: 'dataset',
  name: 'cifar-10',
  package: DATASETS_PACKAGE,
  description: 'CIFAR-10 (binary version) from a local folder: 32x32 RGB, 10 classes, read on demand.',
  configSchema: cifar10Schema,
  create: (config, context) => loadCifar10(config, context.path),
});

export const cifar100Plugin = definePlugin({
  kind: 'dataset',
  name: 'cifar-100',
  package: DATASETS_PACKAGE,
  description: 'CIFAR-100 (binary version) from a local folder: 32x32 RGB, fine (100) or coarse (20) labels, read on demand.',
  configSchema: cifar100Schema,
  create: (config, context) => loadCifar100(config, context.path),
});
