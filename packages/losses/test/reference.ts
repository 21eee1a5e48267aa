/**
 * Plain double-precision reference implementations, written straight from the papers' formulas with
 * loops and no tfjs, so the tests compare the tensor code against an independent computation.
 */
export type Mat = number[][];

export function normalize(rows: Mat): Mat {
  return rows.map((r) => {
    const n = Math.sqrt(r.reduce((s, v) => s + v * v, 0));
    return r.map((v) => v / n);
  });
}

export const dot = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + v * b[i], 0);

function logSumExp(values: number[]): number {
  const m = Math.max(...values);
  return m + Math.log(values.reduce((s, v) => s + Math.exp(v - m), 0));
}

/** SimCLR NT-Xent over 2N anchors; mask[i][j] about samples; weights per pair. */
export function refNtXent(a: Mat, b: Mat, t: number, weights?: number[], mask?: Mat): number {
  const n = a.length;
  const z = [...normalize(a), ...normalize(b)];
  let total = 0;
  for (let i = 0; i < 2 * n; i++) {
    const pos = i < n ? i + n : i - n;
    const logits: number[] = [];
    for (let j = 0; j < 2 * n; j++) {
      if (j === i) continue;
      if (j !== pos && mask && mask[i % n][j % n] === 0) continue;
      logits.push(dot(z[i], z[j]) / t);
    }
    const li = logSumExp(logits) - dot(z[i], z[pos]) / t;
    total += (weights ? weights[i % n] : 1) * li;
  }
  return total / (2 * n);
}

export function refInfoNce(a: Mat, b: Mat, t: number, weights?: number[], mask?: Mat, symmetric = false): number {
  const n = a.length;
  const za = normalize(a);
  const zb = normalize(b);
  const direction = (x: Mat, y: Mat): number => {
    let total = 0;
    for (let i = 0; i < n; i++) {
      const logits: number[] = [];
      for (let j = 0; j < n; j++) if (j === i || !mask || mask[i][j] !== 0) logits.push(dot(x[i], y[j]) / t);
      total += (weights ? weights[i] : 1) * (logSumExp(logits) - dot(x[i], y[i]) / t);
    }
    return total / n;
  };
  return symmetric ? (direction(za, zb) + direction(zb, za)) / 2 : direction(za, zb);
}

export function refQueue(q: Mat, k: Mat, queue: Mat, t: number, weights?: number[], mask?: Mat): number {
  const zq = normalize(q);
  const zk = normalize(k);
  const zu = normalize(queue);
  let total = 0;
  for (let i = 0; i < q.length; i++) {
    const logits = [dot(zq[i], zk[i]) / t];
    for (let j = 0; j < queue.length; j++) if (mask?.[i][j] !== 0) logits.push(dot(zq[i], zu[j]) / t);
    total += (weights ? weights[i] : 1) * (logSumExp(logits) - logits[0]);
  }
  return total / q.length;
}

export function refNegCos(p: Mat, z: Mat, weights?: number[], form: 'simsiam' | 'byol' = 'simsiam'): number {
  const zp = normalize(p);
  const zz = normalize(z);
  let total = 0;
  for (let i = 0; i < p.length; i++) {
    const c = dot(zp[i], zz[i]);
    total += (weights ? weights[i] : 1) * (form === 'byol' ? 2 - 2 * c : -c);
  }
  return total / p.length;
}

/** Central finite differences of f with respect to every entry of x. */
export function numericGrad(f: (x: Mat) => number, x: Mat, eps = 1e-6): Mat {
  return x.map((row, i) =>
    row.map((_, j) => {
      const plus = x.map((r) => [...r]);
      const minus = x.map((r) => [...r]);
      plus[i][j] += eps;
      minus[i][j] -= eps;
      return (f(plus) - f(minus)) / (2 * eps);
    }),
  );
}

/**
 * CLIP's symmetric loss from its pseudo-code: logits[i][j] = s · cos(image i, text j); the mean over
 * rows of CE(row i, target i) and over columns of CE(column j, target j), averaged; pair weights
 * multiply both of a pair's terms; mask[i][j] = 0 drops j from i's candidates (positive kept).
 */
export function refClip(images: Mat, texts: Mat, scale: number, weights?: number[], mask?: Mat): number {
  const n = images.length;
  const zi = normalize(images);
  const zt = normalize(texts);
  const logit = (i: number, j: number) => scale * dot(zi[i], zt[j]);
  const kept = (i: number, j: number) => i === j || !mask || mask[i][j] !== 0;
  let rows = 0;
  let cols = 0;
  for (let i = 0; i < n; i++) {
    const w = weights ? weights[i] : 1;
    const row: number[] = [];
    const col: number[] = [];
    for (let j = 0; j < n; j++) {
      if (!kept(i, j)) continue;
      row.push(logit(i, j));
      col.push(logit(j, i));
    }
    rows += w * (logSumExp(row) - logit(i, i));
    cols += w * (logSumExp(col) - logit(i, i));
  }
  return (rows / n + cols / n) / 2;
}
