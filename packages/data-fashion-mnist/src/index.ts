import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the original Fashion-MNIST IDX files live inside this package. Shipping them means the
 * default dataset works from an install alone, with no download at run time.
 */
export const fashionMnistDir: string = join(dirname(fileURLToPath(import.meta.url)), '..', 'data');

export const fashionMnistFiles = {
  train: { images: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz', count: 60000 },
  test: { images: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz', count: 10000 },
} as const;

/** SHA-256 of each file, so a loader can tell a corrupt or substituted copy from the original. */
export const fashionMnistSha256: Record<string, string> = {
  't10k-images-idx3-ubyte.gz': 'cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa',
  't10k-labels-idx1-ubyte.gz': '8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05',
  'train-images-idx3-ubyte.gz': 'b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7',
  'train-labels-idx1-ubyte.gz': '0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056',
};

export const fashionMnistClassNames = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;
