import { type Batch, type Dataset, type DatasetInfo, GenviewError, type ImageShape, tf } from '@genview/core';

export interface InMemoryDatasetOptions {
  name?: string;
  labels?: Int32Array | ArrayLike<number>;
  classNames?: string[];
}

/**
 * A dataset over pixels already in memory, stored as given: uint8 (0..255, scaled by 1/255 when a
 * batch is built; 4x smaller than float) or float32 in [0, 1]. read() copies the requested rows into
 * one [N, H, W, C] float32 tensor. The IDX and image-folder datasets are this class over decoded files.
 */
export class InMemoryDataset implements Dataset {
  readonly info: DatasetInfo;
  readonly labels?: Int32Array;
  private readonly rowLength: number;

  constructor(
    private readonly pixels: Uint8Array | Float32Array,
    shape: readonly [number, number, number, number],
    options: InMemoryDatasetOptions = {},
  ) {
    const name = options.name ?? 'in-memory';
    const ok = Array.isArray(shape) && shape.length === 4 && shape.every((d) => Number.isInteger(d) && d >= 0);
    if (!ok) {
      throw new GenviewError('BAD_SHAPE', `shape must be [N, H, W, C] of non-negative integers, got ${JSON.stringify(shape)}.`, { where: `${name}.shape` });
    }
    const [n, h, w, c] = shape;
    if (c !== 1 && c !== 3) {
      throw new GenviewError('BAD_SHAPE', `images must have 1 or 3 channels, got C=${c} in [${shape.join(', ')}].`, {
        where: `${name}.shape`,
        fix: 'pass grayscale (C=1) or RGB (C=3) pixels in NHWC order.',
      });
    }
    if (n === 0) {
      throw new GenviewError('EMPTY_DATASET', 'the dataset has no images (N = 0).', { where: name, fix: 'pass at least one image.' });
    }
    this.rowLength = h * w * c;
    if (pixels.length !== n * this.rowLength) {
      throw new GenviewError('BAD_SHAPE', `pixel array has ${pixels.length} values but shape [${shape.join(', ')}] needs ${n * this.rowLength}.`, {
        where: `${name}.images`,
      });
    }
    if (pixels instanceof Float32Array) {
      for (let i = 0; i < pixels.length; i++) {
        const v = pixels[i];
        if (!(v >= 0 && v <= 1)) {
          throw new GenviewError('BAD_INPUT', `float32 pixels must lie in [0, 1]; value ${i} is ${v}.`, {
            where: `${name}.images`,
            fix: 'divide 0..255 data by 255, or pass it as a Uint8Array.',
          });
        }
      }
    }
    if (options.labels !== undefined) {
      const labels = Int32Array.from(options.labels);
      if (labels.length !== n) {
        throw new GenviewError('BAD_SHAPE', `got ${labels.length} labels for ${n} images.`, { where: `${name}.labels` });
      }
      const classes = options.classNames?.length;
      for (let i = 0; i < n; i++) {
        const label = labels[i];
        if (label < 0 || (classes !== undefined && label >= classes)) {
          throw new GenviewError('BAD_INPUT', `label ${i} is ${label}, outside [0, ${classes ?? '∞'}).`, {
            where: `${name}.labels`,
            fix: 'labels are class indices into classNames.',
          });
        }
      }
      this.labels = labels;
    }
    const imageShape: ImageShape = [h, w, c];
    this.info = { name, size: n, imageShape, ...(options.classNames ? { classNames: [...options.classNames] } : {}) };
  }

  async read(indices: ArrayLike<number>): Promise<Batch> {
    const { size, imageShape, name } = this.info;
    const count = indices.length;
    const rows = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const index = indices[i];
      if (!Number.isInteger(index) || index < 0 || index >= size) {
        throw new GenviewError('BAD_INPUT', `index ${index} (position ${i}) is outside [0, ${size}).`, { where: `${name}.read` });
      }
      rows[i] = index;
    }
    const len = this.rowLength;
    const out = new Float32Array(count * len);
    const src = this.pixels;
    if (src instanceof Uint8Array) {
      for (let i = 0; i < count; i++) {
        const from = rows[i] * len;
        const to = i * len;
        for (let j = 0; j < len; j++) out[to + j] = src[from + j] / 255;
      }
    } else {
      for (let i = 0; i < count; i++) out.set(src.subarray(rows[i] * len, (rows[i] + 1) * len), i * len);
    }
    const images = tf.tensor4d(out, [count, imageShape[0], imageShape[1], imageShape[2]], 'float32');
    const batch: Batch = { images, indices: rows };
    if (this.labels) {
      const labels = new Int32Array(count);
      for (let i = 0; i < count; i++) labels[i] = this.labels[rows[i]];
      batch.labels = labels;
    }
    return batch;
  }
}

/**
 * Wraps pixels already in memory as a Dataset (no plugin: data in a variable is not config-able).
 * `images` is uint8 0..255 or float32 in [0, 1], NHWC, `shape` = [N, H, W, C] with C = 1 or 3.
 *
 *   const data = inMemoryDataset(pixels, [100, 28, 28, 1], labels, ['a', 'b']);
 *   const { images } = await data.read([0, 1, 2]); // [3, 28, 28, 1] float32
 */
export function inMemoryDataset(
  images: Float32Array | Uint8Array,
  shape: readonly [number, number, number, number],
  labels?: Int32Array | ArrayLike<number>,
  classNames?: string[],
  name = 'in-memory',
): InMemoryDataset {
  return new InMemoryDataset(images, shape, { name, labels, classNames });
}
