import { GenviewError, definePlugin, z } from '@genview/core';
import { loadIdxSplit } from './idx-split';
import { DATASETS_PACKAGE, FORMER_DATASET_PACKAGES } from './package-name';

const CLASS_NAMES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const FILES_HINT = 'train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each raw or .gz)';

export const mnistSchema = z
  .object({
    split: z.enum(['train', 'test']).default('train').describe('60,000 train or 10,000 test digits'),
    dir: z.string().min(1).optional().describe(`required: folder with the four MNIST IDX files (${FILES_HINT})`),
    limit: z.number().int().positive().optional().describe('use only the first N rows'),
  })
  .strict();

export const mnistPlugin = definePlugin({
  kind: 'dataset',
  name: 'mnist',
  package: DATASETS_PACKAGE,
  formerPackages: FORMER_DATASET_PACKAGES,
  description: 'MNIST digits (28x28x1, 10 classes) from a folder of the original IDX files; none ship with GenView.',
  configSchema: mnistSchema,
  async create(config, context) {
    if (!config.dir) {
      // dir is optional in the schema only so that this message, not a bare "Required", explains why.
      throw new GenviewError('INVALID_CONFIG', 'mnist needs `dir`: MNIST is not bundled with GenView and cannot be downloaded offline.', {
        where: `${context.path}.dir`,
        fix: `download the four MNIST files (${FILES_HINT}) into a folder and set dir to it, or use the bundled fashion-mnist dataset.`,
      });
    }
    return loadIdxSplit({
      dir: config.dir,
      split: config.split,
      name: `mnist/${config.split}`,
      classNames: CLASS_NAMES,
      limit: config.limit,
      where: `${context.path}.dir`,
      missingFix: `put the four MNIST files (${FILES_HINT}) in that folder.`,
    });
  },
});
