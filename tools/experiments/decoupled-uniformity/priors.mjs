// The priors of the decoupled-uniformity methods, built with the runner's prior code. Each is made
// once per process, on first use; the generative one is also cached on disk, because running the image
// encoder over the training set is the slow part and --jobs workers would otherwise each repeat it.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { encodeSafetensors, writeFileAtomic } from '@genview/core';
import { rawPixelFeatures } from '@genview/eval';
import { attributeTablePrior, encoderPrior, filePrior, generativeFeatures, medianPairwiseDistance } from '@genview/runner';

/** The generative model: GenView's own small unCLIP, trained on Fashion-MNIST (grey 28x28, 64-d image embedding). */
export const GENERATIVE_PIPELINE = 'tiny-unclip';
/** Weight of the attribute match in the attribute kernel; the rest is the instance (identity) term. */
export const ATTRIBUTE_WEIGHT = 0.5;
/** Seed of the pairs the RBF bandwidth is measured on (the same pairs for every prior). */
const BANDWIDTH_SEED = 123;

/** Where the generative prior of a training set is cached; the name carries what the features depend on. */
export function generativeCachePath(outDir, dataset, train) {
  return join(outDir, 'priors', `generative-${GENERATIVE_PIPELINE}-${dataset}-${train.info.size}.safetensors`);
}

/** Runs the generative model's encoder over `train` unless the cache already holds its features. */
export async function ensureGenerativeCache(path, train, events) {
  if (existsSync(path)) return;
  const set = await generativeFeatures(train, GENERATIVE_PIPELINE, { batchSize: 256, events }, 'du-gen prior');
  const count = set.features.length / set.dim;
  mkdirSync(dirname(path), { recursive: true });
  await writeFileAtomic(path, encodeSafetensors({ features: { dtype: 'float32', shape: [count, set.dim], data: set.features } }));
}

/**
 * @returns {(method: string) => Promise<{ features, kernel: object, description: string } | undefined>}
 * the prior and kernel config of a method (undefined: no prior), built on first request.
 */
export function priorsFor({ train, attribute, generativePath, events }) {
  const built = new Map();
  const make = {
    // Weak attributes: [attribute, sample id] under the 'attributes' kernel (match mode),
    // K = w·[same attribute] + (1 − w)·I: a few-valued attribute alone gives a low-rank K whose conditional
    // mean embedding merges every sample sharing it into one centroid and drops instance discrimination;
    // the identity part keeps each sample its own centroid, pulled toward its group's.
    'du-attr': async () => ({
      features: attributeTablePrior(Array.from(attribute.values, (value, i) => [value, i])),
      kernel: { name: 'attributes', weights: [ATTRIBUTE_WEIGHT, 1 - ATTRIBUTE_WEIGHT] },
      description: `weak-attribute prior: ${attribute.description}; kernel ${ATTRIBUTE_WEIGHT}·[same attribute] + ${1 - ATTRIBUTE_WEIGHT}·I`,
    }),
    'du-pixels': async () => rbf(await encoderPrior(train, rawPixelFeatures(train), { batchSize: 512, events }), 'frozen raw-pixel prior'),
    'du-gen': async () => {
      await ensureGenerativeCache(generativePath, train, events);
      const features = filePrior(generativePath, {}, 'du-gen prior');
      if (features.count !== train.info.size) throw new Error(`${generativePath} holds ${features.count} rows for ${train.info.size} training images; delete it to recompute.`);
      return rbf(features, `generative prior: the image encoder of the tiny unCLIP (${features.dim}-d embedding; colour images enter it as grey)`);
    },
  };
  return async (method) => {
    if (!make[method]) return undefined;
    if (!built.has(method)) built.set(method, make[method]());
    return built.get(method);
  };
}

/** An RBF kernel on a frozen encoder's features, σ = the median pairwise distance (the usual heuristic). */
function rbf(features, what) {
  const sigma = medianPairwiseDistance(features, { seed: BANDWIDTH_SEED });
  return { features, kernel: { name: 'rbf', sigma }, sigma, description: `${what}; RBF σ = ${sigma.toFixed(3)} (median pairwise distance)` };
}
