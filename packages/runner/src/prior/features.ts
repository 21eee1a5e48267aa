import { GenviewError, type Tensor2D, tf } from '@genview/core';

/**
 * Per-sample prior features for decoupled uniformity with prior knowledge: weak attributes, a frozen
 * encoder's embeddings or a precomputed file, looked up by dataset index. The Trainer hands frameworks
 * the batch's `indices`, so a framework turns them into features and then into a kernel over the batch.
 */
export interface PriorFeatures {
  /** Feature width F. */
  readonly dim: number;
  /** How many dataset indices have features (valid indices are 0 .. count − 1). */
  readonly count: number;
  /** [indices.length, F], rows in the order of `indices`. The caller disposes it (or calls it inside a tidy). */
  featuresFor(indices: Int32Array): Tensor2D;
}

/**
 * Prior features held as one row-major Float32Array in JS memory: lookups copy rows into a fresh
 * tensor, so nothing stays allocated on the backend between steps.
 */
export function tablePrior(values: Float32Array, dim: number, where = 'prior'): PriorFeatures {
  if (!(Number.isInteger(dim) && dim > 0) || values.length % dim !== 0 || values.length === 0) {
    throw new GenviewError('BAD_SHAPE', `prior features must be a non-empty [count, dim] table; got ${values.length} values for dim ${dim}.`, {
      where,
      fix: 'give one row of `dim` features per dataset index.',
    });
  }
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new GenviewError('BAD_INPUT', `prior feature ${i % dim} of row ${Math.floor(i / dim)} is ${values[i]}.`, {
        where,
        fix: 'replace missing or infinite prior values before training (a kernel on them would be NaN).',
      });
    }
  }
  const count = values.length / dim;
  return {
    dim,
    count,
    featuresFor(indices: Int32Array): Tensor2D {
      const out = new Float32Array(indices.length * dim);
      for (let r = 0; r < indices.length; r++) {
        const index = indices[r];
        if (!(index >= 0 && index < count)) {
          throw new GenviewError('BAD_INPUT', `dataset index ${index} has no prior features (the prior covers indices 0..${count - 1}).`, {
            where,
            fix: 'build the prior from the same dataset (and limit) the trainer reads.',
          });
        }
        out.set(values.subarray(index * dim, (index + 1) * dim), r * dim);
      }
      return tf.tensor2d(out, [indices.length, dim]);
    },
  };
}
