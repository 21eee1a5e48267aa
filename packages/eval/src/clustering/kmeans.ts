import { GenviewError, type Rng, type Tensor2D, tf } from '@genview/core';

export interface KMeansOptions {
  /** Number of clusters. */
  k: number;
  /** Seeds the k-means++ start (and mini-batch draws); the same seed gives the same clustering. */
  rng: Rng;
  /** Independent restarts; the run with the lowest inertia wins (scikit-learn's n_init). */
  nInit?: number;
  /** Lloyd iterations (or mini-batch steps) per restart; MCL upstream uses 100. */
  maxIter?: number;
  /**
   * Convergence: stop when the summed squared centroid shift is at most tol × the mean per-dimension
   * variance of the data (scikit-learn's relative tolerance); MCL upstream uses 1e-5.
   */
  tol?: number;
  /** 'lloyd' (exact full passes) or 'mini-batch' (Sculley 2010, as MCL upstream's MiniBatchKMeans). */
  algorithm?: 'lloyd' | 'mini-batch';
  /** Rows per mini-batch step. */
  batchSize?: number;
  /**
   * Mini-batch only: k-means++ runs on this many randomly drawn rows instead of all of them
   * (scikit-learn's init_size, default 3 × batchSize), which is most of the cost on large data.
   */
  initSize?: number;
  /** Rows per distance block: peak memory is chunkSize × k floats plus the chunk itself. */
  chunkSize?: number;
}

export interface KMeansResult {
  /** Row-major [k, dim]. */
  centroids: Float32Array;
  k: number;
  dim: number;
  /** Nearest centroid of every row, after the last update. */
  assignments: Int32Array;
  /** Sum of squared distances of rows to their centroid. */
  inertia: number;
  /** Iterations the winning restart ran. */
  iterations: number;
  /** Inertia of every restart, in order (the winner is the smallest). */
  restartInertias: number[];
}

const WHERE = 'kmeans';

interface Assignment {
  assignments: Int32Array;
  /** Squared distance of each row to its centroid. */
  distances: Float32Array;
  inertia: number;
  /** [k, dim] per-cluster sums and [k] counts, for the Lloyd update without a second pass. */
  sums: Float32Array;
  counts: Float64Array;
}

/**
 * k-means on row-major features [count, dim]: greedy k-means++ seeding (Arthur & Vassilvitskii 2007,
 * with scikit-learn's 2 + ln k candidate trials per centre), then Lloyd or mini-batch updates, best of
 * `nInit` restarts. Distances run as tensor matmuls over row chunks (so no count × count matrix and
 * no full-size intermediate ever exists) and cluster sums as one JS pass; 60k × 512 into 10 clusters
 * takes a few seconds on CPU. Empty clusters are re-seeded at the row farthest from its centroid.
 */
export function kmeans(features: Float32Array, dim: number, options: KMeansOptions): KMeansResult {
  const { k, rng } = options;
  const nInit = options.nInit ?? 1;
  const maxIter = options.maxIter ?? 100;
  const tol = options.tol ?? 1e-5;
  const algorithm = options.algorithm ?? 'lloyd';
  const chunkSize = options.chunkSize ?? 8192;
  if (!(Number.isInteger(dim) && dim >= 1)) throw new GenviewError('BAD_SHAPE', `dim must be a positive integer, got ${dim}.`, { where: `${WHERE}.dim` });
  const count = features.length / dim;
  if (!Number.isInteger(count)) {
    throw new GenviewError('BAD_SHAPE', `features has ${features.length} values, not a multiple of dim ${dim}.`, {
      where: `${WHERE}.features`,
      fix: 'pass row-major [count, dim] features with the matching dim.',
    });
  }
  if (!(Number.isInteger(k) && k >= 1)) throw new GenviewError('BAD_INPUT', `k must be a positive integer, got ${k}.`, { where: `${WHERE}.k` });
  if (count < k) {
    throw new GenviewError('BAD_INPUT', `k = ${k} clusters need at least ${k} rows, got ${count}.`, { where: `${WHERE}.k`, fix: `use k ≤ ${count}.` });
  }
  for (const [name, value] of [
    ['nInit', nInit],
    ['maxIter', maxIter],
    ['chunkSize', chunkSize],
  ] as const) {
    if (!(Number.isInteger(value) && value >= 1)) {
      throw new GenviewError('BAD_INPUT', `${name} must be a positive integer, got ${value}.`, { where: `${WHERE}.${name}` });
    }
  }
  if (!(tol >= 0)) throw new GenviewError('BAD_INPUT', `tol must be ≥ 0, got ${tol}.`, { where: `${WHERE}.tol` });
  const batchSize = Math.min(count, options.batchSize ?? 1024);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new GenviewError('BAD_INPUT', `batchSize must be a positive integer, got ${options.batchSize}.`, { where: `${WHERE}.batchSize` });
  }

  const initSize = Math.max(k, Math.min(count, options.initSize ?? 3 * batchSize));
  // Row norms are computed once in JS; only the [rows, k] cross products go through matmul, which is
  // where the work is (the wasm backend is slow at the elementwise ops and transposed matmuls otherwise needed).
  const chunks = makeChunks(features, count, dim, chunkSize);
  try {
    // scikit-learn scales tol by the data's mean variance so it means the same at any feature scale.
    const threshold = tol * meanVariance(features, count, dim);
    let best: KMeansResult | undefined;
    const restartInertias: number[] = [];
    for (let run = 0; run < nInit; run++) {
      const runRng = rng.fork(`restart-${run}`);
      let centroids = algorithm === 'mini-batch' && initSize < count ? initOnSubset(features, count, dim, k, initSize, chunkSize, runRng) : kmeansPlusPlus(features, count, dim, k, chunks, runRng);
      let iterations = 0;
      if (algorithm === 'lloyd') {
        for (let it = 0; it < maxIter; it++) {
          iterations = it + 1;
          const assigned = assign(chunks, features, centroids, k, dim, true);
          const next = lloydUpdate(assigned, centroids, features, k, dim);
          const shift = squaredShift(centroids, next);
          centroids = next;
          if (shift <= threshold) break;
        }
      } else {
        const seen = new Float64Array(k);
        for (let it = 0; it < maxIter; it++) {
          iterations = it + 1;
          const next = miniBatchStep(features, dim, count, batchSize, centroids, seen, k, runRng);
          const shift = squaredShift(centroids, next);
          centroids = next;
          if (shift <= threshold) break;
        }
      }
      const final = assign(chunks, features, centroids, k, dim, false);
      restartInertias.push(final.inertia);
      if (!best || final.inertia < best.inertia) {
        best = { centroids, k, dim, assignments: final.assignments, inertia: final.inertia, iterations, restartInertias };
      }
    }
    return { ...best!, restartInertias };
  } finally {
    for (const c of chunks) c.rows.dispose();
  }
}

interface Chunk {
  start: number;
  size: number;
  rows: Tensor2D;
  /** Squared L2 norm of each row. */
  norms: Float32Array;
}

function rowNorms(features: Float32Array, start: number, size: number, dim: number): Float32Array {
  const norms = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    let s = 0;
    const base = (start + i) * dim;
    for (let d = 0; d < dim; d++) s += features[base + d] * features[base + d];
    norms[i] = s;
  }
  return norms;
}

function makeChunks(features: Float32Array, count: number, dim: number, chunkSize: number): Chunk[] {
  const chunks: Chunk[] = [];
  for (let start = 0; start < count; start += chunkSize) {
    const size = Math.min(chunkSize, count - start);
    chunks.push({
      start,
      size,
      rows: tf.tensor2d(features.subarray(start * dim, (start + size) * dim), [size, dim]),
      norms: rowNorms(features, start, size, dim),
    });
  }
  return chunks;
}

function initOnSubset(features: Float32Array, count: number, dim: number, k: number, size: number, chunkSize: number, rng: Rng): Float32Array {
  const picked = rng.permutation(count).subarray(0, size);
  const subset = new Float32Array(size * dim);
  picked.forEach((row, i) => {
    subset.set(features.subarray(row * dim, (row + 1) * dim), i * dim);
  });
  const chunks = makeChunks(subset, size, dim, chunkSize);
  try {
    return kmeansPlusPlus(subset, size, dim, k, chunks, rng);
  } finally {
    for (const c of chunks) c.rows.dispose();
  }
}

function meanVariance(features: Float32Array, count: number, dim: number): number {
  const mean = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let d = 0; d < dim; d++) mean[d] += features[i * dim + d];
  for (let d = 0; d < dim; d++) mean[d] /= count;
  let total = 0;
  for (let i = 0; i < count; i++) {
    for (let d = 0; d < dim; d++) {
      const v = features[i * dim + d] - mean[d];
      total += v * v;
    }
  }
  return total / (count * dim);
}

/**
 * Squared distances ‖x‖² − 2 x·c + ‖c‖² of a chunk's rows to m centres, row-major [size, m], clamped at
 * 0 (rounding can make them slightly negative). The centres go in as [dim, m] so the matmul is untransposed.
 */
function squaredDistances(chunk: Chunk, centres: Float32Array, m: number, dim: number): Float32Array {
  const transposed = new Float32Array(dim * m);
  const centreNorms = new Float32Array(m);
  for (let j = 0; j < m; j++) {
    let s = 0;
    for (let d = 0; d < dim; d++) {
      const v = centres[j * dim + d];
      transposed[d * m + j] = v;
      s += v * v;
    }
    centreNorms[j] = s;
  }
  const cross = tf.tidy(() => tf.matMul(chunk.rows, tf.tensor2d(transposed, [dim, m])));
  const out = cross.dataSync() as Float32Array;
  cross.dispose();
  for (let i = 0; i < chunk.size; i++) {
    for (let j = 0; j < m; j++) out[i * m + j] = Math.max(0, chunk.norms[i] - 2 * out[i * m + j] + centreNorms[j]);
  }
  return out;
}

/** Nearest centroid per row; with `withSums` also per-cluster sums and counts (summed in JS: one pass). */
function assign(chunks: Chunk[], features: Float32Array, centroids: Float32Array, k: number, dim: number, withSums: boolean): Assignment {
  const count = chunks.reduce((n, c) => n + c.size, 0);
  const assignments = new Int32Array(count);
  const distances = new Float32Array(count);
  const sums = new Float32Array(withSums ? k * dim : 0);
  const counts = new Float64Array(k);
  let inertia = 0;
  for (const chunk of chunks) {
    const d2 = squaredDistances(chunk, centroids, k, dim);
    for (let i = 0; i < chunk.size; i++) {
      let c = 0;
      let best = d2[i * k];
      for (let j = 1; j < k; j++) {
        if (d2[i * k + j] < best) {
          best = d2[i * k + j];
          c = j;
        }
      }
      const row = chunk.start + i;
      assignments[row] = c;
      distances[row] = best;
      counts[c] += 1;
      inertia += best;
      if (withSums) {
        const from = row * dim;
        const to = c * dim;
        for (let d = 0; d < dim; d++) sums[to + d] += features[from + d];
      }
    }
  }
  return { assignments, distances, inertia, sums, counts };
}

function lloydUpdate(assigned: Assignment, previous: Float32Array, features: Float32Array, k: number, dim: number): Float32Array {
  const next = new Float32Array(k * dim);
  const taken = new Set<number>();
  for (let c = 0; c < k; c++) {
    const n = assigned.counts[c];
    if (n > 0) {
      for (let d = 0; d < dim; d++) next[c * dim + d] = assigned.sums[c * dim + d] / n;
    } else {
      // An empty cluster would stay empty forever; restart it at the worst-served row instead.
      let far = -1;
      let farDist = -1;
      for (let i = 0; i < assigned.distances.length; i++) {
        if (!taken.has(i) && assigned.distances[i] > farDist) {
          farDist = assigned.distances[i];
          far = i;
        }
      }
      taken.add(far);
      next.set(far >= 0 ? features.subarray(far * dim, (far + 1) * dim) : previous.subarray(c * dim, (c + 1) * dim), c * dim);
    }
  }
  return next;
}

/**
 * One mini-batch step with per-centre learning rates 1/count (Sculley 2010): each centre moves toward
 * the mean of its batch rows by the share those rows have of everything it has seen so far.
 */
function miniBatchStep(
  features: Float32Array,
  dim: number,
  count: number,
  batchSize: number,
  centroids: Float32Array,
  seen: Float64Array,
  k: number,
  rng: Rng,
): Float32Array {
  const rows = new Float32Array(batchSize * dim);
  for (let b = 0; b < batchSize; b++) {
    const i = rng.int(count);
    rows.set(features.subarray(i * dim, (i + 1) * dim), b * dim);
  }
  const chunk: Chunk = { start: 0, size: batchSize, rows: tf.tensor2d(rows, [batchSize, dim]), norms: rowNorms(rows, 0, batchSize, dim) };
  let assigned: Assignment;
  try {
    assigned = assign([chunk], rows, centroids, k, dim, true);
  } finally {
    chunk.rows.dispose();
  }
  const next = Float32Array.from(centroids);
  for (let c = 0; c < k; c++) {
    const n = assigned.counts[c];
    if (n === 0) continue;
    seen[c] += n;
    const rate = 1 / seen[c];
    for (let d = 0; d < dim; d++) {
      const target = assigned.sums[c * dim + d];
      next[c * dim + d] = centroids[c * dim + d] * (1 - n * rate) + target * rate;
    }
  }
  return next;
}

function squaredShift(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s;
}

/**
 * Greedy k-means++: the first centre is a uniform draw; each next one is the best (lowest resulting
 * potential) of 2 + ⌊ln k⌋ candidates drawn with probability ∝ squared distance to the nearest centre.
 */
function kmeansPlusPlus(
  features: Float32Array,
  count: number,
  dim: number,
  k: number,
  chunks: Chunk[],
  rng: Rng,
): Float32Array {
  const centroids = new Float32Array(k * dim);
  const trials = 2 + Math.floor(Math.log(k));
  const first = rng.int(count);
  centroids.set(features.subarray(first * dim, (first + 1) * dim), 0);
  let closest = distancesTo(chunks, features, dim, [first])[0];
  let potential = sum(closest);
  for (let c = 1; c < k; c++) {
    const candidates: number[] = [];
    for (let t = 0; t < trials; t++) candidates.push(sampleProportional(closest, potential, rng));
    const candidateDists = distancesTo(chunks, features, dim, candidates);
    let bestIndex = 0;
    let bestPotential = Number.POSITIVE_INFINITY;
    let bestClosest = closest;
    for (let t = 0; t < candidates.length; t++) {
      const merged = new Float32Array(count);
      const dt = candidateDists[t];
      for (let i = 0; i < count; i++) merged[i] = Math.min(closest[i], dt[i]);
      const p = sum(merged);
      if (p < bestPotential) {
        bestPotential = p;
        bestIndex = t;
        bestClosest = merged;
      }
    }
    const chosen = candidates[bestIndex];
    centroids.set(features.subarray(chosen * dim, (chosen + 1) * dim), c * dim);
    closest = bestClosest;
    potential = bestPotential;
  }
  return centroids;
}

/** Squared distances of every row to each of the given rows, one Float32Array [count] per row. */
function distancesTo(chunks: Chunk[], features: Float32Array, dim: number, rows: number[]): Float32Array[] {
  const count = chunks.reduce((n, c) => n + c.size, 0);
  const m = rows.length;
  const out = rows.map(() => new Float32Array(count));
  const centres = new Float32Array(m * dim);
  rows.forEach((r, j) => {
    centres.set(features.subarray(r * dim, (r + 1) * dim), j * dim);
  });
  for (const chunk of chunks) {
    const values = squaredDistances(chunk, centres, m, dim);
    for (let i = 0; i < chunk.size; i++) for (let j = 0; j < m; j++) out[j][chunk.start + i] = values[i * m + j];
  }
  // A chosen row's distance to itself is exactly 0, not a rounding remainder, so it is never drawn again.
  rows.forEach((r, j) => {
    out[j][r] = 0;
  });
  return out;
}

function sum(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s;
}

function sampleProportional(weights: Float32Array, total: number, rng: Rng): number {
  // All rows coincide with a centre (duplicates): any row will do.
  if (!(total > 0)) return rng.int(weights.length);
  let target = rng.float() * total;
  for (let i = 0; i < weights.length; i++) {
    target -= weights[i];
    if (target < 0) return i;
  }
  // Rounding can leave a sliver at the end: take the last row with weight.
  for (let i = weights.length - 1; i >= 0; i--) if (weights[i] > 0) return i;
  return weights.length - 1;
}
