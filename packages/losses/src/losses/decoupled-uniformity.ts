import { GenviewError, type Scalar, ShapeCheck, type Tensor2D, definePlugin, tf, z } from '@genview/core';
import { MASKED_LOGIT, l2Normalize, requirePositive, stopGradient } from '../common';

export interface DecoupledUniformityOptions {
  /** Scale of the Gaussian potential exp(−t‖μ_i − μ_j‖²); the official code uses 2. */
  t?: number;
  /**
   * Prior-knowledge kernel over the batch, [N, N] (RBF/cosine on a generative model's features, or a
   * weak-attribute kernel). With it, each centroid becomes the kernel-ridge (conditional mean embedding)
   * estimate α · mean_views(z), α = (K + λI)⁻¹ K, which pools the views of samples with similar priors.
   */
  kernel?: Tensor2D;
  /** Ridge λ of the conditional mean embedding; 1/√N when unset (the upstream experiments use 0.01). */
  lambda?: number;
}

const WHERE = 'loss decoupled-uniformity';
/** The upstream code solves on batches of at most a few hundred; O(N³) in plain JS stays well under a second there. */
const MAX_KERNEL_ROWS = 4096;

/**
 * Solves (K + λI) X = K for X in double precision by Gauss-Jordan elimination with partial pivoting.
 * A user kernel need not be positive definite (so no Cholesky); pivoting keeps indefinite but
 * non-singular systems solvable and a singular one is reported instead of returning garbage.
 */
export function kernelRidgeWeights(kernel: ArrayLike<number>, n: number, lambda: number): Float64Array {
  const width = 2 * n;
  // Augmented [K + λI | K], row-major.
  const m = new Float64Array(n * width);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const k = kernel[i * n + j];
      m[i * width + j] = i === j ? k + lambda : k;
      m[i * width + n + j] = k;
    }
  }
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(m[i * width + i]));
  const tiny = Math.max(scale, 1) * n * 1e-14;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r * width + col]) > Math.abs(m[pivot * width + col])) pivot = r;
    const p = m[pivot * width + col];
    if (!(Math.abs(p) > tiny)) {
      throw new GenviewError('BAD_INPUT', `kernel + λI is singular (pivot ${p} in column ${col}); the conditional mean embedding is undefined.`, {
        where: `${WHERE}.kernel`,
        fix: 'use a positive semi-definite kernel (rbf, cosine, attributes) and a lambda > 0.',
      });
    }
    if (pivot !== col) {
      for (let c = 0; c < width; c++) {
        const tmp = m[col * width + c];
        m[col * width + c] = m[pivot * width + c];
        m[pivot * width + c] = tmp;
      }
    }
    const inv = 1 / p;
    for (let c = col; c < width; c++) m[col * width + c] *= inv;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r * width + col];
      if (f === 0) continue;
      for (let c = col; c < width; c++) m[r * width + c] -= f * m[col * width + c];
    }
  }
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = m[i * width + n + j];
  return out;
}

function checkViews(views: Tensor2D[] | undefined): { n: number; d: number } {
  if (!views || views.length < 2) {
    throw new GenviewError('BAD_INPUT', `views must hold two or more tensors laid out [N, D], got ${views ? views.length : 'none'}.`, {
      where: WHERE,
      fix: 'pass every augmented view of the batch, [N, D] each (rows are samples, in the same order in every view).',
    });
  }
  const check = new ShapeCheck(WHERE);
  for (const [v, view] of views.entries()) check.check(view, `views[${v}]`, ['N', 'D']);
  const [n, d] = views[0].shape;
  if (n < 2) {
    throw new GenviewError('BAD_SHAPE', `views need at least 2 samples (N ≥ 2) for pairs of centroids, got N = ${n}.`, {
      where: WHERE,
      fix: 'use a batch size of 2 or more.',
    });
  }
  return { n, d };
}

/**
 * The centroids the loss spreads: each sample's mean L2-normalised view embedding, [N, D]; with a
 * kernel, the conditional mean embedding α · centroids. α is computed on detached kernel values
 * (the kernel describes the prior, not the encoder), so gradients reach the views only through the
 * centroids, as in the official code.
 */
export function decoupledCentroids(views: Tensor2D[], options: Pick<DecoupledUniformityOptions, 'kernel' | 'lambda'> = {}): Tensor2D {
  const { n } = checkViews(views);
  let alpha: Float64Array | undefined;
  if (options.kernel) {
    new ShapeCheck(`${WHERE}.kernel`).check(options.kernel, 'kernel', ['N', 'N']);
    if (options.kernel.shape[0] !== n) {
      throw new GenviewError('BAD_SHAPE', `kernel is [${options.kernel.shape}] but the batch has N = ${n} samples; it must be [N, N].`, {
        where: `${WHERE}.kernel`,
        fix: 'compute the kernel on the prior features of exactly the samples in this batch, in the same order.',
      });
    }
    if (n > MAX_KERNEL_ROWS) {
      throw new GenviewError('BAD_SHAPE', `the kernel-ridge solve is O(N³) in JS and N = ${n} exceeds ${MAX_KERNEL_ROWS}.`, {
        where: `${WHERE}.kernel`,
        fix: 'use a smaller batch with a prior kernel.',
      });
    }
    const lambda = options.lambda ?? 1 / Math.sqrt(n);
    if (!(lambda > 0) || !Number.isFinite(lambda)) {
      throw new GenviewError('BAD_INPUT', `lambda must be a positive number, got ${lambda}.`, {
        where: `${WHERE}.lambda`,
        fix: 'set lambda > 0 (e.g. 0.01) or leave it unset for 1/√N.',
      });
    }
    // A readback: the solve runs once per step on an [N, N] matrix, small next to the encoder.
    alpha = kernelRidgeWeights(options.kernel.dataSync(), n, lambda);
  }
  return tf.tidy(() => {
    const stacked = tf.stack(views.map((v) => l2Normalize(v)));
    const centroids = tf.mean(stacked, 0) as Tensor2D;
    if (!alpha) return centroids;
    const weights = stopGradient(tf.tensor2d(Float32Array.from(alpha), [n, n]));
    return tf.matMul(weights, centroids);
  });
}

/** log mean over i ≠ j of exp(−t‖μ_i − μ_j‖²); the mean over ordered pairs equals the mean over i < j. */
function centroidUniformity(mu: Tensor2D, t: number): Scalar {
  return tf.tidy(() => {
    const n = mu.shape[0];
    const gram = tf.matMul(mu, mu, false, true);
    const sqNorm = tf.sum(tf.square(mu), 1);
    // ‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b; clamp rounding below 0.
    const sq = tf.relu(tf.sub(tf.add(tf.expandDims(sqNorm, 1), tf.expandDims(sqNorm, 0)), tf.mul(gram, 2)));
    const offDiagonal = tf.cast(tf.sub(1, tf.eye(n)), 'bool');
    const potential = tf.where(offDiagonal, tf.mul(sq, -t), tf.fill([n, n], MASKED_LOGIT));
    return tf.sub(tf.logSumExp(potential), Math.log(n * (n - 1))) as Scalar;
  });
}

/**
 * Decoupled Uniformity (Dufumier et al., ICML 2023): views are L2-normalised, each sample's centroid is
 * the mean of its views (or, with a prior kernel, the conditional mean embedding over the batch), and
 * the loss is log mean_{i<j} exp(−t‖μ_i − μ_j‖²). Spreading the centroids also aligns each sample's
 * views (a centroid's norm grows as its views agree), so there is no positive term and no
 * negative-positive coupling.
 */
export function decoupledUniformity(views: Tensor2D[], options: DecoupledUniformityOptions = {}): Scalar {
  const t = options.t ?? 2;
  requirePositive(t, 't', WHERE);
  return tf.tidy(() => centroidUniformity(decoupledCentroids(views, options), t));
}

/** Alignment (−mean‖μ_i‖², lower is better aligned) and uniformity (the loss) of the centroids, as numbers. */
export function decoupledUniformityMetrics(views: Tensor2D[], options: DecoupledUniformityOptions = {}): { alignment: number; uniformity: number } {
  const t = options.t ?? 2;
  requirePositive(t, 't', WHERE);
  const values = tf.tidy(() => {
    const mu = decoupledCentroids(views, options);
    return tf.stack([tf.neg(tf.mean(tf.sum(tf.square(mu), 1))), centroidUniformity(mu, t)]);
  });
  const [alignment, uniformity] = values.dataSync();
  values.dispose();
  return { alignment, uniformity };
}

export const decoupledUniformityPlugin = definePlugin({
  kind: 'loss',
  name: 'decoupled-uniformity',
  package: '@genview/losses',
  description:
    'Decoupled Uniformity: log mean exp(−t‖μ_i − μ_j‖²) over view centroids; with a prior kernel the centroids are conditional mean embeddings (K + λI)⁻¹K·μ.',
  configSchema: z
    .object({
      t: z.number().positive().default(2),
      /** Ridge of the conditional mean embedding; unset = 1/√batch. */
      lambda: z.number().positive().optional(),
    })
    .strict(),
  create: (config) => ({
    name: 'decoupled-uniformity',
    // The kernel is optional: without one the loss is plain decoupled uniformity.
    requires: [],
    // Centroids of every process's batch should be spread against each other (and the kernel should span
    // the gathered batch); the all-reduced gradient then carries the world size.
    crossProcess: { kind: 'all-gather-negatives', gradientScale: 'world-size' },
    compute: (inputs) => decoupledUniformity(inputs.views, { t: config.t, lambda: config.lambda, kernel: inputs.kernel }),
    metrics: (inputs) => decoupledUniformityMetrics(inputs.views, { t: config.t, lambda: config.lambda, kernel: inputs.kernel }),
  }),
});
