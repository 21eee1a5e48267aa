import { GenviewError, type Rng, tf } from '@genview/core';

/**
 * Multinomial logistic regression on frozen features, trained on the active tfjs backend with
 * mini-batch Adam and a cosine learning-rate decay. The gradient is written out (softmax − one-hot)
 * instead of taped: it is the textbook form, and skipping the tape makes each step a few fused ops.
 */

export interface SoftmaxFitOptions {
  numClasses: number;
  /** L2 penalty λ/2·‖W‖² on the weights (not the bias), added to the mean cross-entropy. */
  l2: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  rng: Rng;
  /**
   * Standardise each feature with the fitted rows' statistics (default). Off for raw pixels: a border
   * pixel that is near-constant in the training images gets a tiny scale, so any faint value there in a
   * test image (a generated one, say) is blown up and swamps the decision.
   */
  standardise?: boolean;
}

/** A fitted probe: standardisation statistics of its training features plus weights [dim, classes]. */
export interface SoftmaxModel {
  dim: number;
  numClasses: number;
  mean: Float32Array;
  /** Per-feature scale (the standard deviation, 1 where a feature is constant). */
  scale: Float32Array;
  weights: Float32Array;
  bias: Float32Array;
}

/** Per-feature mean and standard deviation of selected rows. */
export function standardisation(features: Float32Array, dim: number, rows: ArrayLike<number>): { mean: Float32Array; scale: Float32Array } {
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r] * dim;
    for (let d = 0; d < dim; d++) {
      const v = features[base + d];
      mean[d] += v;
      sq[d] += v * v;
    }
  }
  const n = Math.max(1, rows.length);
  const scale = new Float32Array(dim);
  for (let d = 0; d < dim; d++) {
    mean[d] /= n;
    const std = Math.sqrt(Math.max(0, sq[d] / n - mean[d] * mean[d]));
    // A constant feature carries nothing; dividing by ~0 would only amplify rounding noise.
    scale[d] = std > 1e-6 ? std : 1;
  }
  return { mean: Float32Array.from(mean), scale };
}

/** Standardised copy of selected rows, row-major [rows, dim]. */
function standardiseRows(features: Float32Array, dim: number, rows: ArrayLike<number>, mean: Float32Array, scale: Float32Array): Float32Array {
  const out = new Float32Array(rows.length * dim);
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r] * dim;
    const at = r * dim;
    for (let d = 0; d < dim; d++) out[at + d] = (features[base + d] - mean[d]) / scale[d];
  }
  return out;
}

/**
 * Fits the probe on the given rows of `features` (row-major, `dim` columns).
 * Batches are assembled in JS and uploaded: on the wasm backend a gather from a large tensor and a
 * transposed matMul each cost far more than the arithmetic, so every matMul here runs untransposed.
 */
export function fitSoftmax(
  features: Float32Array,
  labels: Int32Array,
  dim: number,
  rows: ArrayLike<number>,
  options: SoftmaxFitOptions,
): SoftmaxModel {
  const { numClasses, l2, epochs, batchSize, learningRate, rng } = options;
  const n = rows.length;
  if (n === 0) throw new GenviewError('EMPTY_DATASET', 'the linear probe has no training rows.', { where: 'linear probe' });
  const { mean, scale } =
    options.standardise === false ? { mean: new Float32Array(dim), scale: new Float32Array(dim).fill(1) } : standardisation(features, dim, rows);
  const x = standardiseRows(features, dim, rows, mean, scale);
  const y = Int32Array.from(rows, (r) => labels[r]);
  // Zero init: the problem is convex, so the start only matters for speed, and zero is reproducible.
  // tidy frees the zeros; each variable keeps its own reference to the data.
  const zeros = (shape: number[]) => tf.tidy(() => tf.variable(tf.zeros(shape)));
  const w = zeros([dim, numClasses]);
  const b = zeros([numClasses]);
  const mw = zeros([dim, numClasses]);
  const vw = zeros([dim, numClasses]);
  const mb = zeros([numClasses]);
  const vb = zeros([numClasses]);
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  const size = Math.min(batchSize, n);
  const stepsPerEpoch = Math.ceil(n / size);
  const totalSteps = epochs * stepsPerEpoch;
  const xBuffer = new Float32Array(size * dim);
  const yBuffer = new Float32Array(size * numClasses);
  try {
    let step = 0;
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = rng.permutation(n);
      for (let s = 0; s < stepsPerEpoch; s++) {
        step++;
        const lr = 0.5 * learningRate * (1 + Math.cos((Math.PI * (step - 1)) / totalSteps));
        const correction1 = 1 - beta1 ** step;
        const correction2 = 1 - beta2 ** step;
        const first = s * size;
        const count = Math.min(n, first + size) - first;
        yBuffer.fill(0);
        for (let r = 0; r < count; r++) {
          const row = order[first + r];
          xBuffer.set(x.subarray(row * dim, (row + 1) * dim), r * dim);
          yBuffer[r * numClasses + y[row]] = 1;
        }
        tf.tidy(() => {
          const xb = tf.tensor2d(xBuffer.subarray(0, count * dim), [count, dim]);
          const yb = tf.tensor2d(yBuffer.subarray(0, count * numClasses), [count, numClasses]);
          const probs = tf.softmax(tf.add(tf.matMul(xb, w), b));
          const delta = tf.div(tf.sub(probs, yb), count);
          // Xᵀ·Δ as (Δᵀ·X)ᵀ: the transposes touch only [count, classes] and [classes, dim].
          const data = tf.transpose(tf.matMul(tf.transpose(delta), xb));
          const gw = l2 > 0 ? tf.add(data, tf.mul(w, l2)) : data;
          const gb = tf.sum(delta, 0);
          adam(w, mw, vw, gw, lr, beta1, beta2, eps, correction1, correction2);
          adam(b, mb, vb, gb, lr, beta1, beta2, eps, correction1, correction2);
        });
      }
    }
    return { dim, numClasses, mean, scale, weights: Float32Array.from(w.dataSync()), bias: Float32Array.from(b.dataSync()) };
  } finally {
    for (const t of [w, b, mw, vw, mb, vb]) t.dispose();
  }
}

function adam(
  param: tf.Variable,
  m: tf.Variable,
  v: tf.Variable,
  grad: tf.Tensor,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  correction1: number,
  correction2: number,
): void {
  m.assign(tf.add(tf.mul(m, beta1), tf.mul(grad, 1 - beta1)));
  v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(grad), 1 - beta2)));
  const update = tf.div(tf.div(m, correction1), tf.add(tf.sqrt(tf.div(v, correction2)), eps));
  param.assign(tf.sub(param, tf.mul(update, lr)));
}

/** Top-1 and top-5 accuracy of a fitted probe on the given rows, scored in chunks. */
export function scoreSoftmax(
  model: SoftmaxModel,
  features: Float32Array,
  labels: Int32Array,
  rows: ArrayLike<number>,
  chunkSize = 4096,
): { top1: number; top5: number } {
  const { dim, numClasses, mean, scale } = model;
  const n = rows.length;
  if (n === 0) return { top1: Number.NaN, top5: Number.NaN };
  let hits1 = 0;
  let hits5 = 0;
  const w = tf.tensor2d(model.weights, [dim, numClasses]);
  const b = tf.tensor1d(model.bias);
  try {
    for (let start = 0; start < n; start += chunkSize) {
      const part = Array.from({ length: Math.min(chunkSize, n - start) }, (_, i) => rows[start + i]);
      const logits = tf.tidy(() => tf.add(tf.matMul(tf.tensor2d(standardiseRows(features, dim, part, mean, scale), [part.length, dim]), w), b));
      const values = logits.dataSync();
      logits.dispose();
      for (let r = 0; r < part.length; r++) {
        const truth = labels[part[r]];
        const score = values[r * numClasses + truth];
        let rank = 0;
        for (let c = 0; c < numClasses; c++) {
          const v = values[r * numClasses + c];
          if (v > score || (v === score && c < truth)) rank++;
        }
        if (rank === 0) hits1++;
        if (rank < 5) hits5++;
      }
    }
  } finally {
    w.dispose();
    b.dispose();
  }
  return { top1: hits1 / n, top5: hits5 / n };
}
