// The datasets of the decoupled-uniformity experiment: what trains, what is evaluated, and the weak
// attribute each offers as a prior. Images do not depend on the run seed, so every seed and method sees
// the same train and test sets.
import { coloredDigits } from '@genview/datasets';

// Fashion-MNIST classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
// 7 Sneaker, 8 Bag, 9 Ankle boot. The weak attribute: 0 = top (upper-body garment), 1 = footwear, 2 = other.
const COARSE = [0, 2, 0, 2, 0, 1, 0, 1, 2, 1];

export const DATASETS = ['fashion-mnist', 'colored-digits'];

/**
 * @returns {{ train, test, label: string, extraLabels: { prefix: string, name: string, train, test }[],
 *   attribute: { description: string, values: Int32Array }, describe: string }}
 * extraLabels: further attributes evaluated by kNN (metrics get `prefix`), e.g. colour on coloured digits.
 */
export async function loadExperimentData(name, { trainCount, testCount, registry, context }) {
  if (name === 'fashion-mnist') {
    const train = await registry.create('dataset', { name: 'fashion-mnist', split: 'train', limit: trainCount }, { ...context, path: 'train' });
    const test = await registry.create('dataset', { name: 'fashion-mnist', split: 'test', limit: testCount }, { ...context, path: 'test' });
    return {
      train,
      test,
      label: 'class',
      extraLabels: [],
      attribute: { description: 'coarse group (top / footwear / other) from the class', values: Int32Array.from(train.labels, (label) => COARSE[label]) },
      describe: `Fashion-MNIST (first ${train.info.size} train, first ${test.info.size} test images, 28x28 grey)`,
    };
  }
  if (name === 'colored-digits') {
    // Train and test from different seeds (as the colored-digits plugin's splits), so no test image is a train image.
    const options = { size: 28, colorNoise: 0.05 };
    const train = coloredDigits({ ...options, count: trainCount, seed: 0, name: 'colored-digits/train' });
    const test = coloredDigits({ ...options, count: testCount, seed: 1, name: 'colored-digits/test' });
    return {
      train,
      test,
      label: 'digit',
      extraLabels: [{ prefix: 'color_', name: 'colour', train: train.labelledBy('color'), test: test.labelledBy('color') }],
      attribute: { description: 'stroke colour (10 values)', values: train.attributes.color },
      describe: `coloured digits (${train.info.size} train, ${test.info.size} test, 28x28 RGB, colour ±0.05 jitter, digit and colour independent)`,
    };
  }
  throw new Error(`--dataset must be one of ${DATASETS.join(', ')}, got ${name}`);
}
