import { GenviewError, Rng, type Tensor3D, tf } from '@genview/core';

/**
 * GenView's foreground direction: one vector v in the encoder's token space whose projection separates
 * foreground patches from background ones. Plain arrays (not tensors) so a fitted direction can be kept,
 * saved and shared without anyone having to dispose it.
 */
export interface ForegroundDirection {
  /** [D]; a fitted one is the unit first principal component, oriented so foreground projects higher. */
  readonly vector: Float32Array;
  /**
   * Tokens whose projection t·v is above this are foreground (hard mask, foreground ratio). Projections
   * are of the raw tokens, not centred ones, as upstream; the threshold was fitted in the same space.
   */
  readonly threshold: number;
  /** Mean token of the fit sample [D], recorded for inspection; projections do not subtract it. */
  readonly mean?: Float32Array;
  /** The fraction of fit tokens the threshold marks as foreground. */
  readonly foregroundFraction?: number;
  /** How the sign of the vector was chosen (a principal component's sign is arbitrary). */
  readonly orientation?: Orientation;
  /** Variance along v over the total variance of the fit sample: how dominant the direction is. */
  readonly explainedVariance?: number;
}

/**
 * 'centre-prior': foreground tends to sit in the middle of the frame, so v is flipped if needed to make
 * tokens nearer the grid centre project higher on average (a heuristic: it fails on data whose subjects
 * are mostly off-centre; pass 'flip' or 'as-computed' then). 'as-computed' keeps the eigen solver's sign,
 * 'flip' negates it; either lets a user who has inspected the masks correct the sign.
 */
export type Orientation = 'centre-prior' | 'as-computed' | 'flip';

/** Batches of patch tokens [N, T, D]; T and D must agree across batches. */
export type TokenBatches = Iterable<Tensor3D> | AsyncIterable<Tensor3D>;

/**
 * Where the fit reads tokens. The fit needs two passes (the direction first, then the threshold
 * on projections onto it), so a stream must be given as a factory that can be called twice.
 * A tensor or an array stays the caller's; tensors a factory yields are disposed by the fit.
 */
export type TokenSource = Tensor3D | readonly Tensor3D[] | (() => TokenBatches);

export interface FitForegroundOptions {
  /** Fraction of all fit tokens that should count as foreground; GenView sets the threshold for about 40 %. */
  foregroundFraction?: number;
  /** Sign convention; see Orientation. */
  orientation?: Orientation;
  /** Token layout [h, w] for the centre prior; defaults to a square grid (T must then be a square). */
  grid?: [number, number];
  /** Power-iteration cap; convergence speed depends on the gap between the first two eigenvalues. */
  maxIterations?: number;
  /** Stop when the direction moves less than this (Euclidean) between iterations. */
  tolerance?: number;
}

const WHERE = 'fitForegroundDirection';

/** Checks a direction given by a user or read from a file before anything projects onto it. */
export function validateForegroundDirection(direction: ForegroundDirection, where: string): void {
  const v = direction.vector;
  if (!(v instanceof Float32Array) || v.length === 0) {
    throw new GenviewError('BAD_INPUT', 'the foreground direction vector must be a non-empty Float32Array [D].', {
      where,
      fix: 'fit one with fitForegroundDirection or load it with loadForegroundDirection.',
    });
  }
  let norm = 0;
  for (const x of v) {
    if (!Number.isFinite(x)) throw new GenviewError('BAD_INPUT', 'the foreground direction has a non-finite entry.', { where, fix: 'refit the direction.' });
    norm += x * x;
  }
  if (norm === 0) throw new GenviewError('BAD_INPUT', 'the foreground direction is the zero vector.', { where, fix: 'refit the direction.' });
  if (!Number.isFinite(direction.threshold)) {
    throw new GenviewError('BAD_INPUT', `the foreground threshold must be a finite number, got ${direction.threshold}.`, { where });
  }
  if (direction.mean !== undefined && direction.mean.length !== v.length) {
    throw new GenviewError('BAD_SHAPE', `the direction has ${v.length} dims but its mean has ${direction.mean.length}.`, { where, fix: 'refit the direction.' });
  }
}

/** Throws unless the encoder's token size matches the direction's. */
export function checkDirectionDim(direction: ForegroundDirection, tokenDim: number, where: string): void {
  if (direction.vector.length !== tokenDim) {
    throw new GenviewError(
      'BAD_SHAPE',
      `the foreground direction has ${direction.vector.length} dims but the encoder's patch tokens have ${tokenDim}.`,
      { where, fix: 'fit the direction with the same encoder the scorer uses (fitForegroundDirectionOnDataset).' },
    );
  }
}

async function* batchesOf(source: TokenSource): AsyncGenerator<{ tokens: Tensor3D; owned: boolean }> {
  if (typeof source === 'function') {
    for await (const tokens of source()) yield { tokens, owned: true };
  } else if (Array.isArray(source)) {
    for (const tokens of source as readonly Tensor3D[]) yield { tokens, owned: false };
  } else {
    yield { tokens: source as Tensor3D, owned: false };
  }
}

/** Centred "closeness to the grid centre" per token position [T]; zero-sum so a constant offset in projections cancels. */
export function centrality(grid: [number, number]): Float64Array {
  const [h, w] = grid;
  const c = new Float64Array(h * w);
  const ci = (h - 1) / 2;
  const cj = (w - 1) / 2;
  let mean = 0;
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      // Normalised by the grid size so non-square grids weigh both axes alike.
      const d = Math.hypot((i - ci) / h, (j - cj) / w);
      c[i * w + j] = -d;
      mean -= d;
    }
  }
  mean /= h * w;
  for (let t = 0; t < c.length; t++) c[t] -= mean;
  return c;
}

function resolveGrid(tokens: number, grid: [number, number] | undefined): [number, number] {
  if (grid) {
    if (grid[0] * grid[1] !== tokens) {
      throw new GenviewError('BAD_SHAPE', `grid [${grid.join(', ')}] has ${grid[0] * grid[1]} cells but the tokens have T = ${tokens}.`, {
        where: `${WHERE}.grid`,
        fix: 'give the encoder\'s token grid as [rows, cols].',
      });
    }
    return grid;
  }
  const side = Math.round(Math.sqrt(tokens));
  if (side * side !== tokens) {
    throw new GenviewError('BAD_SHAPE', `T = ${tokens} tokens is not a square grid, so the centre prior cannot place them.`, {
      where: `${WHERE}.grid`,
      fix: "pass grid: [rows, cols], or orientation: 'as-computed' / 'flip'.",
    });
  }
  return [side, side];
}

/**
 * The leading eigenvector of a symmetric positive semi-definite matrix by power iteration, in float64.
 * A D×D covariance for D up to ~1k makes this cheap next to the encoder passes; a seeded start vector
 * keeps the result reproducible.
 */
export function leadingEigenvector(
  matrix: Float64Array,
  dim: number,
  maxIterations = 1000,
  tolerance = 1e-10,
): { vector: Float64Array; eigenvalue: number; iterations: number } {
  const start = new Rng(0x5eed).normalArray(dim);
  let x = Float64Array.from(start);
  let norm = 0;
  for (let i = 0; i < dim; i++) norm += x[i] * x[i];
  norm = Math.sqrt(norm);
  for (let i = 0; i < dim; i++) x[i] /= norm;
  let eigenvalue = 0;
  let iterations = 0;
  const y = new Float64Array(dim);
  for (; iterations < maxIterations; iterations++) {
    for (let r = 0; r < dim; r++) {
      let s = 0;
      const row = r * dim;
      for (let c = 0; c < dim; c++) s += matrix[row + c] * x[c];
      y[r] = s;
    }
    norm = 0;
    for (let r = 0; r < dim; r++) norm += y[r] * y[r];
    norm = Math.sqrt(norm);
    if (norm === 0) break;
    let moved = 0;
    eigenvalue = 0;
    for (let r = 0; r < dim; r++) {
      const next = y[r] / norm;
      moved += (next - x[r]) ** 2;
      eigenvalue += x[r] * y[r];
      x[r] = next;
    }
    if (Math.sqrt(moved) < tolerance) {
      iterations++;
      break;
    }
  }
  if (norm === 0) x = new Float64Array(dim);
  return { vector: x, eigenvalue, iterations };
}

/**
 * Fits GenView's foreground direction: the first principal component of patch tokens (covariance
 * accumulated batch by batch, then power iteration), its sign fixed by `orientation`, and a threshold
 * on t·v so that `foregroundFraction` of the fit tokens lie above it. Reads the tokens twice.
 */
export async function fitForegroundDirection(source: TokenSource, options: FitForegroundOptions = {}): Promise<ForegroundDirection> {
  const fraction = options.foregroundFraction ?? 0.4;
  if (!(fraction > 0 && fraction < 1)) {
    throw new GenviewError('BAD_INPUT', `foregroundFraction must be strictly between 0 and 1, got ${fraction}.`, {
      where: `${WHERE}.foregroundFraction`,
      fix: 'GenView uses 0.4.',
    });
  }
  const orientation = options.orientation ?? 'centre-prior';

  // Pass 1: shifted sums (the first batch's mean as the shift) keep the float32 per-batch X^T X from
  // cancelling catastrophically when the mean token is large next to the spread.
  let dim = -1;
  let tokensPerImage = -1;
  let count = 0;
  let shift: Float32Array | undefined;
  let sum: Float64Array | undefined;
  let outer: Float64Array | undefined;
  let centreWeighted: Float64Array | undefined;
  let centre: Float64Array | undefined;

  for await (const { tokens, owned } of batchesOf(source)) {
    try {
      if (tokens.rank !== 3) {
        throw new GenviewError('BAD_SHAPE', `token batches must be [N, T, D], got shape [${tokens.shape.join(', ')}].`, { where: WHERE });
      }
      const [n, t, d] = tokens.shape;
      if (dim < 0) {
        dim = d;
        tokensPerImage = t;
        sum = new Float64Array(d);
        outer = new Float64Array(d * d);
        centreWeighted = new Float64Array(d);
        if (orientation === 'centre-prior') centre = centrality(resolveGrid(t, options.grid));
      } else if (d !== dim || t !== tokensPerImage) {
        throw new GenviewError('BAD_SHAPE', `a token batch is [${n}, ${t}, ${d}] but earlier batches were [?, ${tokensPerImage}, ${dim}].`, {
          where: WHERE,
          fix: 'feed tokens from one encoder at one input size.',
        });
      }
      if (n === 0) continue;
      if (!shift) {
        const first = tf.tidy(() => tf.mean(tf.reshape(tokens, [n * t, d]), 0));
        shift = Float32Array.from(first.dataSync());
        first.dispose();
      }
      const shiftValues = shift;
      const centreValues = centre;
      const [s, o, cw] = tf.tidy(() => {
        const x = tf.sub(tf.reshape(tokens, [n * t, d]), tf.tensor1d(shiftValues));
        const s = tf.sum(x, 0);
        const o = tf.matMul(x, x, true, false);
        // Σ_n Σ_t c_t x_nt: sum over images first, then weight positions.
        const cw = centreValues
          ? tf.matMul(tf.tensor2d(Float32Array.from(centreValues), [1, t]), tf.sum(tf.reshape(x, [n, t, d]), 0))
          : tf.zeros([1, d]);
        return [s, o, cw];
      });
      const [sv, ov, cv] = [s.dataSync(), o.dataSync(), cw.dataSync()];
      tf.dispose([s, o, cw]);
      for (let i = 0; i < d; i++) {
        (sum as Float64Array)[i] += sv[i];
        (centreWeighted as Float64Array)[i] += cv[i];
      }
      for (let i = 0; i < d * d; i++) (outer as Float64Array)[i] += ov[i];
      count += n * t;
    } finally {
      if (owned) tokens.dispose();
    }
  }
  if (count < 2 || !sum || !outer || !shift || !centreWeighted) {
    throw new GenviewError('EMPTY_DATASET', `the foreground fit needs at least 2 patch tokens, got ${Math.max(count, 0)}.`, {
      where: WHERE,
      fix: 'pass token batches [N, T, D] with N ≥ 1 (a factory that can be called twice, for streams).',
    });
  }

  // Covariance about the mean: (Σ(x−s)(x−s)ᵀ − n·(μ−s)(μ−s)ᵀ) / (n − 1).
  const d = dim;
  const meanShifted = new Float64Array(d);
  for (let i = 0; i < d; i++) meanShifted[i] = sum[i] / count;
  const cov = new Float64Array(d * d);
  let trace = 0;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      cov[i * d + j] = (outer[i * d + j] - count * meanShifted[i] * meanShifted[j]) / (count - 1);
    }
    trace += cov[i * d + i];
  }
  if (!(trace > 0)) {
    throw new GenviewError('BAD_INPUT', 'the patch tokens have no variance, so no direction separates anything.', {
      where: WHERE,
      fix: 'check that the encoder produces varying tokens for the images (not a constant or a zero map).',
    });
  }
  const { vector, eigenvalue } = leadingEigenvector(cov, d, options.maxIterations ?? 1000, options.tolerance ?? 1e-10);

  let sign = 1;
  let applied: Orientation = orientation;
  if (orientation === 'flip') sign = -1;
  else if (orientation === 'centre-prior') {
    let s = 0;
    for (let i = 0; i < d; i++) s += centreWeighted[i] * vector[i];
    // Centrality is zero-sum, so Σ c_t (t·v) equals this dot product; zero means the prior cannot tell.
    if (s < 0) sign = -1;
    else if (s === 0) applied = 'as-computed';
  }
  const v = new Float32Array(d);
  for (let i = 0; i < d; i++) v[i] = sign * vector[i];
  const mean = new Float32Array(d);
  for (let i = 0; i < d; i++) mean[i] = shift[i] + meanShifted[i];

  // Pass 2: projections onto v, then the threshold between the last background and first foreground value.
  const projections: Float32Array[] = [];
  const vTensor = tf.tensor2d(v, [d, 1]);
  try {
    for await (const { tokens, owned } of batchesOf(source)) {
      try {
        const [n, t] = tokens.shape;
        const p = tf.tidy(() => tf.matMul(tf.reshape(tokens, [n * t, d]), vTensor));
        projections.push(p.dataSync() as Float32Array);
        p.dispose();
      } finally {
        if (owned) tokens.dispose();
      }
    }
  } finally {
    vTensor.dispose();
  }
  const total = projections.reduce((a, p) => a + p.length, 0);
  if (total !== count) {
    throw new GenviewError('BAD_INPUT', `the second pass over the tokens saw ${total} tokens, the first ${count}.`, {
      where: WHERE,
      fix: 'pass a factory that yields the same batches every time it is called (a generator object can only be read once).',
    });
  }
  const all = new Float64Array(total);
  let at = 0;
  for (const p of projections) {
    all.set(p, at);
    at += p.length;
  }
  all.sort();
  const { threshold, foregroundCount } = splitSorted(all, Math.min(total - 1, Math.max(1, Math.round(fraction * total))));

  return {
    vector: v,
    threshold,
    mean,
    foregroundFraction: foregroundCount / total,
    orientation: applied,
    explainedVariance: eigenvalue / trace,
  };
}

/**
 * The threshold that leaves about `wanted` of the sorted values strictly above it. Tied values cannot be
 * split (tokens of flat regions project identically), so the cut moves to the nearest boundary between
 * distinct values, on whichever side gives a count closer to the wanted one.
 */
export function splitSorted(sorted: Float64Array, wanted: number): { threshold: number; foregroundCount: number } {
  const total = sorted.length;
  const lowIndex = total - wanted - 1;
  if (sorted[lowIndex] !== sorted[lowIndex + 1]) {
    return { threshold: (sorted[lowIndex] + sorted[lowIndex + 1]) / 2, foregroundCount: wanted };
  }
  const tie = sorted[lowIndex];
  let below = lowIndex;
  while (below >= 0 && sorted[below] === tie) below--;
  let above = lowIndex + 1;
  while (above < total && sorted[above] === tie) above++;
  // Cutting below the tie makes every tied value foreground; cutting above makes them all background.
  const countIfBelow = below >= 0 ? total - below - 1 : undefined;
  const countIfAbove = above < total ? total - above : undefined;
  const useBelow =
    countIfBelow !== undefined && (countIfAbove === undefined || Math.abs(countIfBelow - wanted) <= Math.abs(countIfAbove - wanted));
  if (useBelow) return { threshold: (sorted[below] + tie) / 2, foregroundCount: countIfBelow as number };
  if (countIfAbove !== undefined) return { threshold: (tie + sorted[above]) / 2, foregroundCount: countIfAbove };
  return { threshold: tie, foregroundCount: 0 };
}
