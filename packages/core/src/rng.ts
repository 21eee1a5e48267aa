/**
 * Seeded randomness for everything in GenView: augmentation parameters, initialisation, shuffling,
 * noise. xoshiro128** is small, fast in JS (32-bit integer ops) and its whole state fits in a
 * checkpoint, which is what makes resumed runs reproduce uninterrupted ones exactly.
 */
export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class Rng {
  private s: Uint32Array;
  private spareNormal: number | null = null;

  constructor(seed: number | RngState = 0) {
    this.s = new Uint32Array(4);
    if (Array.isArray(seed)) {
      this.s.set(seed);
    } else {
      const next = splitmix32(Math.floor(seed));
      for (let i = 0; i < 4; i++) this.s[i] = next();
    }
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  /** A new generator whose stream depends only on this one's seed state and the label. */
  fork(label: string): Rng {
    const next = splitmix32(hashString(label) ^ this.s[0] ^ Math.imul(this.s[1], 31) ^ this.s[2]);
    const state: RngState = [next() ^ this.s[3], next(), next(), next()];
    return new Rng(state);
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  float(): number {
    return this.nextUint32() / 4294967296;
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.float();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0)) throw new RangeError(`Rng.int needs n > 0, got ${n}`);
    return Math.floor(this.float() * n);
  }

  bernoulli(p: number): boolean {
    return this.float() < p;
  }

  /** Standard normal (Box-Muller, caching the second value). */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return mean + std * z;
    }
    let u = 0;
    while (u === 0) u = this.float();
    const v = this.float();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** Fills a Float32Array with N(mean, std²) draws. */
  normalArray(length: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = this.normal(mean, std);
    return out;
  }

  uniformArray(length: number, low = 0, high = 1): Float32Array {
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = low + (high - low) * this.float();
    return out;
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    return this.shuffleInPlace(out);
  }

  shuffleInPlace<T extends { length: number; [i: number]: unknown }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A seed for tf random ops that take one (they are not used for anything that must resume). */
  seedForOp(): number {
    return this.nextUint32();
  }

  getState(): { s: RngState; spareNormal: number | null } {
    return { s: [this.s[0], this.s[1], this.s[2], this.s[3]], spareNormal: this.spareNormal };
  }

  setState(state: { s: RngState; spareNormal: number | null }): void {
    this.s.set(state.s);
    this.spareNormal = state.spareNormal;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * The seed of one item of a run (a generated view of image `index`, any per-sample draw): a function
 * of the stream `rng` (its current state) and the index only, never of batch order or of what other
 * items drew, so a resumed or resharded run gives every item the seed it had. Conditioning plugins
 * use it for GenerationParams.seed; view stores keep matching across runs because it never changes.
 */
export function viewSeed(rng: Rng, index: number): number {
  return rng.fork(`view:${index}`).int(0x7fffffff);
}
