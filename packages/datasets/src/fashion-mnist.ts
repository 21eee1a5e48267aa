import { GenviewError, definePlugin, z } from '@genview/core';
import { CaptionedDataset } from './captioned';
import { fashionCaptions } from './fashion-captions';
import { readIdxCached } from './idx';
import { IDX_FILE_STEMS, type IdxSplit, findIdxFile, loadIdxSplit } from './idx-split';
import { DATASETS_PACKAGE, FORMER_DATASET_PACKAGES } from './package-name';

/** Fallback when a user-given dir is read without the data package installed (Zalando's class order). */
const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export const fashionMnistSchema = z
  .object({
    split: z.enum(['train', 'test']).default('train').describe('official split: 60,000 train or 10,000 test images'),
    dir: z.string().min(1).optional().describe('folder with the four original IDX files (.gz or raw); default: the @genview/data-fashion-mnist package'),
    limit: z.number().int().positive().optional().describe('use only the first N rows'),
    captions: z.boolean().default(false).describe("caption every image in the phrasing of the tiny-unclip model's training captions"),
    captionAttributes: z.boolean().default(true).describe('add measured size (small/large) and brightness (dark/bright) words to captions'),
    captionSeed: z.number().int().default(0).describe('seed of the per-image template choice'),
  })
  .strict();

/** The optional data package, loaded only when no dir is given, so datasets does not depend on its 30 MB. */
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
        fix: 'run `npm install @genview/data-fashion-mnist` (it ships the original files; an optional peer of @genview/datasets and @genview/runner), or set dir to a folder holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].',
        cause: error,
      },
    );
  }
}

export const fashionMnistPlugin = definePlugin({
  kind: 'dataset',
  name: 'fashion-mnist',
  package: DATASETS_PACKAGE,
  formerPackages: FORMER_DATASET_PACKAGES,
  description: 'Fashion-MNIST (Zalando, MIT): 28x28x1, 10 classes, official 60k/10k split, decoded once and held as uint8.',
  configSchema: fashionMnistSchema,
  async create(config, context) {
    const source = config.dir ? { dir: config.dir, classNames: CLASS_NAMES } : await packagedDir(context.path);
    const files = {
      dir: source.dir,
      split: config.split,
      where: config.dir ? `${context.path}.dir` : context.path,
      missingFix: config.dir
        ? 'set dir to a folder holding the original Fashion-MNIST IDX files, or leave it unset to use @genview/data-fashion-mnist.'
        : 'reinstall @genview/data-fashion-mnist; its data folder is incomplete.',
    };
    const dataset = await loadIdxSplit({ ...files, name: `fashion-mnist/${config.split}`, classNames: source.classNames, limit: config.limit });
    context.events.log('fashion-mnist', `${dataset.info.name}: ${dataset.info.size} images from ${source.dir}`, 'debug');
    if (!config.captions) return dataset;
    const captions = await splitCaptions(files, { attributes: config.captionAttributes, seed: config.captionSeed });
    return new CaptionedDataset(dataset, captions.slice(0, dataset.info.size));
  },
});

/** Captions of a whole split, so attribute thresholds (and so every caption) do not depend on `limit`. */
async function splitCaptions(
  files: { dir: string; split: IdxSplit; where: string; missingFix: string },
  options: { attributes: boolean; seed: number },
): Promise<string[]> {
  const stems = IDX_FILE_STEMS[files.split];
  // loadIdxSplit has just read these files; the cache hands back the same decoded buffers.
  const [images, labels] = await Promise.all([
    readIdxCached(findIdxFile(files.dir, stems.images, files.where, files.missingFix), 'images'),
    readIdxCached(findIdxFile(files.dir, stems.labels, files.where, files.missingFix), 'labels'),
  ]);
  const [, h = 0, w = 0] = images.dims;
  return fashionCaptions(images.data, h * w, labels.data, options);
}
