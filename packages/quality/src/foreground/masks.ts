import { GenviewError, ShapeCheck, l2Normalize, type Tensor1D, type Tensor2D, type Tensor3D, tf } from '@genview/core';
import { type ForegroundDirection, checkDirectionDim } from './direction';

/**
 * Foreground masks from patch tokens and a foreground direction (GenView): hard masks and the
 * foreground ratio (for the adaptive noise level), soft masks and masked pooling (for quality scores).
 */

/** The direction as a [D, 1] column, the shape every projection here multiplies by. Caller disposes. */
export function directionColumn(direction: ForegroundDirection): Tensor2D {
  return tf.tensor2d(direction.vector, [direction.vector.length, 1]);
}

function checkTokens(tokens: Tensor3D, where: string): void {
  new ShapeCheck(where).check(tokens, 'patch tokens', ['N', 'T', 'D']);
  if (tokens.shape[1] === 0 || tokens.shape[2] === 0) {
    throw new GenviewError('BAD_SHAPE', `patch tokens must have T ≥ 1 and D ≥ 1, got shape [${tokens.shape.join(', ')}].`, { where });
  }
}

/**
 * Projections t·v of every token, [N, T]. `direction` is a ForegroundDirection or a [D, 1] column made
 * by directionColumn (hot paths keep one column instead of uploading the vector every call).
 */
export function projectTokens(tokens: Tensor3D, direction: ForegroundDirection | Tensor2D, where = 'projectTokens'): Tensor2D {
  checkTokens(tokens, where);
  const [n, t, d] = tokens.shape;
  const dim = direction instanceof tf.Tensor ? direction.shape[0] : direction.vector.length;
  if (dim !== d) {
    if (!(direction instanceof tf.Tensor)) checkDirectionDim(direction, d, where);
    throw new GenviewError('BAD_SHAPE', `the foreground direction has ${dim} dims but the patch tokens have ${d}.`, {
      where,
      fix: 'fit the direction with the same encoder that makes the tokens.',
    });
  }
  return tf.tidy(() => {
    const column = direction instanceof tf.Tensor ? direction : directionColumn(direction);
    return tf.reshape(tf.matMul(tf.reshape(tokens, [n * t, d]), column), [n, t]) as Tensor2D;
  });
}

/** 1 where a token is foreground (projection above the threshold), else 0; [N, T] float32. */
export function hardForegroundMask(projections: Tensor2D, threshold: number): Tensor2D {
  return tf.tidy(() => tf.cast(tf.greater(projections, threshold), 'float32') as Tensor2D);
}

/**
 * Foreground ratio r per image: foreground tokens / all tokens. Counted on the device, divided in
 * float64 here, so a ratio that is exactly a bin edge (e.g. 10/50 = 0.2) is not nudged over it by
 * float32 rounding.
 */
export function foregroundRatios(tokens: Tensor3D, direction: ForegroundDirection): Float64Array {
  const counts = tf.tidy(() => tf.sum(hardForegroundMask(projectTokens(tokens, direction, 'foregroundRatios'), direction.threshold), 1));
  const values = counts.dataSync();
  counts.dispose();
  const t = tokens.shape[1];
  return Float64Array.from(values, (c) => c / t);
}

// A type alias, not an interface: tf.tidy only returns objects whose type has an index signature.
export type SoftMasks = {
  /** [N, T], min-max normalised projections, then scaled to sum 1 per image. */
  foreground: Tensor2D;
  /** [N, T], (1 − min-max normalised projections), then scaled to sum 1 per image. */
  background: Tensor2D;
};

/**
 * GenView's soft masks: per image, m_fg = (p − min) / (max − min), m_bg = 1 − m_fg, each divided by its
 * sum over the grid. Both sums are at least 1 (the max token has m_fg = 1, the min token m_bg = 1), so
 * no epsilon is needed there. An image whose projections are all equal has no foreground signal: both
 * masks are then uniform (upstream would give an all-zero foreground mask).
 */
export function softForegroundMasks(projections: Tensor2D): SoftMasks {
  new ShapeCheck('softForegroundMasks').check(projections, 'projections', ['N', 'T']);
  return tf.tidy(() => {
    const min = tf.min(projections, 1, true);
    const range = tf.sub(tf.max(projections, 1, true), min);
    // 1 for a flat row, else 0. Written with sign() (range ≥ 0) rather than a comparison because
    // comparisons have no gradient function, and a caller inside a gradient scope would then fail.
    const flat = tf.sub(1, tf.sign(range));
    // Adding `flat` to the denominator avoids 0/0 on flat rows; their values are replaced just below.
    const scaled = tf.div(tf.sub(projections, min), tf.add(range, flat));
    const fg = tf.add(tf.mul(scaled, tf.sub(1, flat)), tf.mul(flat, 0.5));
    const bg = tf.sub(1, fg);
    return {
      foreground: tf.div(fg, tf.sum(fg, 1, true)) as Tensor2D,
      background: tf.div(bg, tf.sum(bg, 1, true)) as Tensor2D,
    };
  });
}

// A type alias, not an interface: tf.tidy only returns objects whose type has an index signature.
export type PooledFeatures = {
  /** Σ_t m_fg[t]·token[t], [N, D]. */
  foreground: Tensor2D;
  /** Σ_t m_bg[t]·token[t], [N, D]. */
  background: Tensor2D;
};

/**
 * Masked pooling of each image's tokens with its soft masks: a batched matmul [N, 1, T] × [N, T, D] per mask.
 * `direction` as in projectTokens.
 */
export function poolForegroundBackground(tokens: Tensor3D, direction: ForegroundDirection | Tensor2D, where = 'poolForegroundBackground'): PooledFeatures {
  return tf.tidy(() => {
    const masks = softForegroundMasks(projectTokens(tokens, direction, where));
    const [n, t, d] = tokens.shape;
    // Two [N, 1, T] × [N, T, D] matmuls rather than one stacked [N, 2, T] product: splitting the
    // stacked result means slicing its middle axis, which CPU backends do element by element
    // (about 100 ms at N = 512, more than the encoder pass the scorer exists to add).
    const pool = (mask: Tensor2D): Tensor2D => tf.reshape(tf.matMul(tf.reshape(mask, [n, 1, t]) as Tensor3D, tokens), [n, d]) as Tensor2D;
    return { foreground: pool(masks.foreground), background: pool(masks.background) };
  });
}

/** Row-wise cosine of matching rows of two [N, D] matrices, [N]. */
export function rowCosine(a: Tensor2D, b: Tensor2D): Tensor1D {
  return tf.tidy(() => tf.sum(tf.mul(l2Normalize(a), l2Normalize(b)), 1) as Tensor1D);
}
