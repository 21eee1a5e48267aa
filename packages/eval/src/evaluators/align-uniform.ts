import { type EvalResult, GenviewError, type Tensor2D, type Tensor4D, definePlugin, tf, z } from '@genview/core';
import { l2NormalizeRows } from '../math';

export interface AlignUniformOptions {
  /** Exponent of the alignment distance (Wang & Isola use 2). */
  alpha?: number;
  /** Scale of the Gaussian potential in uniformity (Wang & Isola use 2). */
  t?: number;
}

export interface AlignUniform {
  /** E‖f(x) − f(y)‖^α over positive pairs; lower is better aligned. */
  alignment: number;
  /** log E exp(−t‖f(x) − f(x')‖²) over distinct samples, averaged over the two views; lower is more uniform. */
  uniformity: number;
}

/** log mean over i ≠ j of exp(−t‖z_i − z_j‖²), via log-sum-exp so large t does not underflow. */
function uniformityOf(zn: Tensor2D, t: number): tf.Scalar {
  return tf.tidy(() => {
    const n = zn.shape[0];
    // ‖a − b‖² = 2 − 2a·b on the unit sphere; clamp rounding below 0.
    const sq = tf.relu(tf.sub(2, tf.mul(tf.matMul(zn, zn, false, true), 2)));
    const potential = tf.where(tf.cast(tf.eye(n), 'bool'), tf.fill([n, n], -Infinity), tf.mul(sq, -t));
    return tf.sub(tf.logSumExp(potential), Math.log(n * (n - 1))) as tf.Scalar;
  });
}

/**
 * Alignment and uniformity (Wang & Isola, ICML 2020) of two views' embeddings [N, D]; rows are
 * L2-normalised first, as both metrics are defined on the unit sphere. Row i of z1 and z2 is a pair.
 */
export function alignmentUniformity(z1: Tensor2D, z2: Tensor2D, options: AlignUniformOptions = {}): AlignUniform {
  const alpha = options.alpha ?? 2;
  const t = options.t ?? 2;
  if (z1.rank !== 2 || z1.shape[0] !== z2.shape[0] || z1.shape[1] !== z2.shape[1] || z1.shape[0] < 2) {
    throw new GenviewError('BAD_SHAPE', `z1 and z2 must both be [N, D] with N ≥ 2, got [${z1.shape}] and [${z2.shape}].`, {
      where: 'alignmentUniformity',
    });
  }
  const values = tf.tidy(() => {
    const a = l2NormalizeRows(z1);
    const b = l2NormalizeRows(z2);
    const distance = tf.sqrt(tf.relu(tf.sum(tf.square(tf.sub(a, b)), 1)));
    const alignment = tf.mean(tf.pow(distance, alpha));
    const uniformity = tf.div(tf.add(uniformityOf(a, t), uniformityOf(b, t)), 2);
    return tf.stack([alignment, uniformity]);
  });
  const [alignment, uniformity] = values.dataSync();
  values.dispose();
  return { alignment, uniformity };
}

/** A deterministic second view made with tensor ops alone (no dependence on the views package). */
function secondView(images: Tensor4D, transform: 'hflip' | 'noise', noiseStd: number, seed: number): Tensor4D {
  return tf.tidy(() =>
    transform === 'hflip'
      ? (tf.reverse(images, 2) as Tensor4D)
      : (tf.clipByValue(tf.add(images, tf.randomNormal(images.shape, 0, noiseStd, 'float32', seed)), 0, 1) as Tensor4D),
  );
}

export const alignUniformPlugin = definePlugin({
  kind: 'evaluator',
  name: 'align-uniform',
  package: '@genview/eval',
  description:
    'Alignment and uniformity (Wang & Isola) of frozen encoder features on test images paired with a fixed second view (horizontal flip or pixel noise).',
  configSchema: z
    .object({
      alpha: z.number().positive().default(2),
      t: z.number().positive().default(2),
      transform: z.enum(['hflip', 'noise']).default('hflip'),
      noiseStd: z.number().positive().default(0.05),
      /** Uniformity is O(N²): measure the first `limit` test images. */
      limit: z.number().int().min(2).default(2048),
      batchSize: z.number().int().positive().default(256),
      seed: z.number().int().default(0),
    })
    .strict(),
  create: (config, context) => ({
    name: 'align-uniform',
    async evaluate(encoder, data): Promise<EvalResult> {
      const count = Math.min(config.limit, data.test.info.size);
      const dim = encoder.featureDim;
      const first = new Float32Array(count * dim);
      const second = new Float32Array(count * dim);
      for (let start = 0; start < count; start += config.batchSize) {
        const indices = Int32Array.from({ length: Math.min(config.batchSize, count - start) }, (_, i) => start + i);
        const batch = await data.test.read(indices);
        try {
          const [e1, e2] = tf.tidy(() => {
            const other = secondView(batch.images, config.transform, config.noiseStd, config.seed + start);
            return [encoder.embed(batch.images), encoder.embed(other)];
          });
          first.set(e1.dataSync(), start * dim);
          second.set(e2.dataSync(), start * dim);
          tf.dispose([e1, e2]);
        } finally {
          batch.images.dispose();
        }
        context.events.emit('progress', { task: 'align-uniform: embed test', done: start + indices.length, total: count, unit: 'images' });
      }
      const z1 = tf.tensor2d(first, [count, dim]);
      const z2 = tf.tensor2d(second, [count, dim]);
      try {
        const { alignment, uniformity } = alignmentUniformity(z1, z2, config);
        const view = config.transform === 'hflip' ? 'its horizontal flip' : `itself plus N(0, ${config.noiseStd}²) pixel noise (seed ${config.seed})`;
        return {
          evaluator: 'align-uniform',
          metrics: { align: alignment, uniform: uniformity },
          description:
            `alignment E‖f(x)−f(y)‖^${config.alpha} and uniformity log E exp(−${config.t}‖f(x)−f(x')‖²) (Wang & Isola) of L2-normalised ` +
            `frozen encoder features (D=${dim}) on the first ${count} images of ${data.test.info.name}, each paired with ${view}`,
        };
      } finally {
        tf.dispose([z1, z2]);
      }
    },
  }),
});
