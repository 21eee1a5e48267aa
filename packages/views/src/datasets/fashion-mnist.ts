import { GenviewError, definePlugin, z } from '@genview/core';
import { loadIdxSplit } from './idx-split';

/** Fallback when a user-given dir is read without the data package installed (Zalando's class order). */
const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export const fashionMnistSchema = z
  .object({
    split: z.enum(['train', 'test']).default('train').describe('official split: 60,000 train or 10,000 test images'),
    dir: z.string().min(1).optional().describe('folder with the four original IDX files (.gz or raw); default: the @genview/data-fashion-mnist package'),
    limit: z.number().int().positive().optional().describe('use only the first N rows'),
  })
  .strict();

/** The optional data package, loaded only when no dir is given, so views does not depend on its 30 MB. */
async function packagedDir(where: string): Promise<{ dir: string; classNames: string[] }> {
  try {
    const data = await import('@genview/data-fashion-mnist');
    return { dir: data.fashionMnistDir, classNames: [...data.fashionMnistClassNames] };
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    // Only a missing package itself means "not installed"; anything else (an unbuilt or broken copy) is reported as is.
    const missing = /Cannot find (module|package) '@genview\/data-fashion-mnist'/.test(reason);
    throw new GenviewError(
      'NOT_FOUND',
      missing
        ? 'the Fashion-MNIST files were not found: no `dir` was given and @genview/data-fashion-mnist is not installed.'
        : `no \`dir\` was given and @genview/data-fashion-mnist could not be loaded (${reason}).`,
      {
        where,
        fix: 'install @genview/data-fashion-mnist (it ships the original files), or set dir to a folder holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].',
        cause: error,
      },
    );
  }
}

export const fashionMnistPlugin = definePlugin({
  kind: 'dataset',
  name: 'fashion-mnist',
  package: '@genview/views',
  description: 'Fashion-MNIST (Zalando, MIT): 28x28x1, 10 classes, official 60k/10k split, decoded once and held as uint8.',
  configSchema: fashionMnistSchema,
  async create(config, context) {
    const source = config.dir ? { dir: config.dir, classNames: CLASS_NAMES } : await packagedDir(context.path);
    const dataset = await loadIdxSplit({
      dir: source.dir,
      split: config.split,
      name: `fashion-mnist/${config.split}`,
      classNames: source.classNames,
      limit: config.limit,
      where: config.dir ? `${context.path}.dir` : context.path,
      missingFix: config.dir
        ? 'set dir to a folder holding the original Fashion-MNIST IDX files, or leave it unset to use @genview/data-fashion-mnist.'
        : 'reinstall @genview/data-fashion-mnist; its data folder is incomplete.',
    });
    context.events.log('fashion-mnist', `${dataset.info.name}: ${dataset.info.size} images from ${source.dir}`, 'debug');
    return dataset;
  },
});
