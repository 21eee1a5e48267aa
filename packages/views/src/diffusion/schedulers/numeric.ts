/**
 * The few numpy routines the diffusers schedulers are written in, reproduced to the last bit where
 * that decides an integer timestep: numpy rounds halves to even and builds `linspace` as
 * `i * step + start` with the end point pinned, and JavaScript does neither by default.
 */

/** numpy's `round` (and `ndarray.round`): halves go to the even neighbour, so 498.5 -> 498. */
export function roundHalfEven(x: number): number {
  if (Math.abs(x % 1) === 0.5) return 2 * Math.round(x / 2);
  return Math.round(x);
}

/** numpy's `linspace(start, stop, num)` in float64. */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 0) return out;
  if (num === 1) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  out[num - 1] = stop;
  return out;
}

/**
 * numpy's `interp(x, arange(len(fp)), fp)`: linear between integer knots, clamped to the end values
 * outside them.
 */
export function interpAtIndex(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (!(x > 0)) return fp[0];
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  const slope = fp[j + 1] - fp[j];
  return slope * (x - j) + fp[j];
}

export function reversed(values: Float64Array): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[values.length - 1 - i];
  return out;
}
