import { type Batch, type Dataset, type DatasetInfo, GenviewError, tf } from '@genview/core';

export interface StreamingImagesOptions {
  name: string;
  count: number;
  /** [H, W, C] every decoded row has. */
  imageShape: [number, number, number];
  /** Decodes row `index` to H*W*C uint8; throw a GenviewError naming the file when it cannot. */
  decodeRow(index: number): Promise<Uint8Array>;
  /** Decoded images kept in the LRU cache (0: none). */
  cacheSize: number;
  /** Decodes running at once (reads and prefetches together). */
  concurrency: number;
  labels?: Int32Array;
  classNames?: string[];
  captions?: string[];
}

/** Bounds how many decodes run at once. */
class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await task();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * Images decoded on demand: a batch decodes the rows it lacks (`concurrency` at a time), a bounded LRU
 * cache keeps the most recently used `cacheSize` decoded rows, and `prefetch(indices)` (the Trainer
 * passes the next batch's indices) starts decoding those rows while the current step runs. Memory is
 * bounded by cacheSize + one batch + one prefetched batch of decoded images, whatever the dataset's size.
 */
export class StreamingImageDataset implements Dataset {
  readonly info: DatasetInfo;
  readonly labels?: Int32Array;
  readonly captions?: string[];
  private readonly cache = new Map<number, Uint8Array>();
  private readonly pending = new Map<number, Promise<Uint8Array>>();
  private readonly limiter: Limiter;
  private decodes = 0;

  constructor(private readonly options: StreamingImagesOptions) {
    const { name, count, imageShape, labels, classNames, captions } = options;
    if (count === 0) throw new GenviewError('EMPTY_DATASET', `${name} has no images.`, { where: name });
    this.info = { name, size: count, imageShape, ...(classNames ? { classNames } : {}) };
    if (labels) this.labels = labels;
    if (captions) this.captions = captions;
    this.limiter = new Limiter(Math.max(1, options.concurrency));
  }

  /** Decoded images now held in the cache (never more than cacheSize). */
  get cachedImages(): number {
    return this.cache.size;
  }

  /** Images decoded so far (cache misses, prefetches included). */
  get decodedImages(): number {
    return this.decodes;
  }

  private remember(index: number, pixels: Uint8Array): void {
    if (this.options.cacheSize <= 0) return;
    this.cache.delete(index);
    this.cache.set(index, pixels);
    while (this.cache.size > this.options.cacheSize) this.cache.delete(this.cache.keys().next().value as number);
  }

  private row(index: number): Promise<Uint8Array> {
    const hit = this.cache.get(index);
    if (hit) {
      this.remember(index, hit);
      return Promise.resolve(hit);
    }
    const inFlight = this.pending.get(index);
    if (inFlight) return inFlight;
    const task = this.limiter
      .run(() => {
        this.decodes++;
        return this.options.decodeRow(index);
      })
      .then((pixels) => {
        this.remember(index, pixels);
        return pixels;
      })
      .finally(() => this.pending.delete(index));
    this.pending.set(index, task);
    return task;
  }

  /** A hint that these rows are read next: their decoding starts now. Failures surface when they are read. */
  prefetch(indices: ArrayLike<number>): void {
    for (let i = 0; i < indices.length; i++) {
      const index = indices[i];
      if (Number.isInteger(index) && index >= 0 && index < this.info.size) this.row(index).catch(() => undefined);
    }
  }

  async read(indices: ArrayLike<number>): Promise<Batch> {
    const { size, imageShape, name } = this.info;
    const rows = Int32Array.from(indices as ArrayLike<number>);
    rows.forEach((index, i) => {
      if (!Number.isInteger(index) || index < 0 || index >= size) {
        throw new GenviewError('BAD_INPUT', `index ${index} (position ${i}) is outside [0, ${size}).`, { where: `${name}.read` });
      }
    });
    const decoded = await Promise.all(Array.from(rows, (index) => this.row(index)));
    // Decodes finish in any order; re-touching the rows in request order keeps the cache's recency
    // that of the reads, so what stays cached does not depend on which decode happened to end last.
    for (let i = 0; i < rows.length; i++) this.remember(rows[i], decoded[i]);
    const rowLength = imageShape[0] * imageShape[1] * imageShape[2];
    const out = new Float32Array(rows.length * rowLength);
    decoded.forEach((pixels, i) => {
      const at = i * rowLength;
      for (let j = 0; j < rowLength; j++) out[at + j] = pixels[j] / 255;
    });
    const images = tf.tensor4d(out, [rows.length, imageShape[0], imageShape[1], imageShape[2]], 'float32');
    const batch: Batch = { images, indices: rows };
    if (this.labels) batch.labels = Int32Array.from(rows, (r) => (this.labels as Int32Array)[r]);
    if (this.captions) batch.captions = Array.from(rows, (r) => (this.captions as string[])[r]);
    return batch;
  }
}
