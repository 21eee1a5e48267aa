import { open, stat } from 'node:fs/promises';
import { type Batch, type Dataset, type DatasetInfo, GenviewError, tf } from '@genview/core';

/** One file of fixed-size records: `count` records of `recordBytes` each, back to back from `start`. */
export interface RecordFile {
  path: string;
  count: number;
  /** Bytes before the first record (0 for CIFAR and STL-10). */
  start?: number;
}

export interface RecordLayout {
  recordBytes: number;
  /** Where the pixels start inside a record (CIFAR records begin with their label bytes). */
  pixelOffset: number;
  /** [H, W, C] of one decoded image. */
  imageShape: [number, number, number];
  /** Writes one record's pixels as NHWC floats in [0, 1] into out[offset..]. */
  decode(pixels: Uint8Array, out: Float32Array, offset: number): void;
}

/**
 * Number of records of `recordBytes` in a file, or a GenviewError naming the file when its size is not
 * a whole number of records (a truncated download) or it is missing.
 */
export async function countRecords(path: string, recordBytes: number, what: string, fix: string): Promise<number> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    throw new GenviewError('NOT_FOUND', `${what}: ${path} does not exist.`, { where: path, fix, cause: error });
  }
  if (size === 0 || size % recordBytes !== 0) {
    throw new GenviewError(
      'BAD_INPUT',
      `${what}: ${path} is ${size} bytes, not a whole number of ${recordBytes}-byte records (truncated, or not this format).`,
      { where: path, fix },
    );
  }
  return size / recordBytes;
}

/**
 * A dataset over binary files of fixed-size image records (CIFAR, STL-10), read on demand: a batch
 * opens the files it needs and reads only its rows, so a split larger than memory (STL-10's 2.7 GB
 * unlabelled set) costs one batch of RAM. Labels, when any, are held in memory (one int per image).
 */
export class RecordFilesDataset implements Dataset {
  readonly info: DatasetInfo;
  private readonly firstIndex: number[] = [];

  constructor(
    private readonly files: readonly RecordFile[],
    private readonly layout: RecordLayout,
    info: { name: string; classNames?: string[] },
    readonly labels?: Int32Array,
    limit?: number,
  ) {
    let total = 0;
    for (const file of files) {
      this.firstIndex.push(total);
      total += file.count;
    }
    const size = limit === undefined ? total : Math.min(limit, total);
    if (labels && labels.length < size) {
      throw new GenviewError('BAD_SHAPE', `got ${labels.length} labels for ${size} images.`, { where: `${info.name}.labels` });
    }
    if (labels && labels.length > size) this.labels = labels.slice(0, size);
    this.info = { name: info.name, size, imageShape: layout.imageShape, ...(info.classNames ? { classNames: info.classNames } : {}) };
  }

  /** The file holding dataset index `index`, and the record's position in it. */
  private locate(index: number): { file: number; record: number } {
    let lo = 0;
    let hi = this.files.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.firstIndex[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    return { file: lo, record: index - this.firstIndex[lo] };
  }

  async read(indices: ArrayLike<number>): Promise<Batch> {
    const { size, imageShape, name } = this.info;
    const count = indices.length;
    const rows = Int32Array.from(indices as ArrayLike<number>);
    rows.forEach((index, i) => {
      if (!Number.isInteger(index) || index < 0 || index >= size) {
        throw new GenviewError('BAD_INPUT', `index ${index} (position ${i}) is outside [0, ${size}).`, { where: `${name}.read` });
      }
    });
    const { recordBytes, pixelOffset, decode } = this.layout;
    const pixelBytes = recordBytes - pixelOffset;
    const rowLength = imageShape[0] * imageShape[1] * imageShape[2];
    const out = new Float32Array(count * rowLength);
    const byFile = new Map<number, number[]>();
    for (let i = 0; i < count; i++) {
      const { file } = this.locate(rows[i]);
      const list = byFile.get(file) ?? [];
      list.push(i);
      byFile.set(file, list);
    }
    const buffer = new Uint8Array(pixelBytes);
    for (const [fileIndex, positions] of byFile) {
      const file = this.files[fileIndex];
      const handle = await open(file.path, 'r');
      try {
        for (const i of positions) {
          const { record } = this.locate(rows[i]);
          const at = (file.start ?? 0) + record * recordBytes + pixelOffset;
          const { bytesRead } = await handle.read(buffer, 0, pixelBytes, at);
          if (bytesRead !== pixelBytes) {
            throw new GenviewError('BAD_INPUT', `${file.path} ended inside record ${record} (it changed or was truncated after the dataset was opened).`, {
              where: file.path,
              fix: 'restore the complete file.',
            });
          }
          decode(buffer, out, i * rowLength);
        }
      } finally {
        await handle.close();
      }
    }
    const images = tf.tensor4d(out, [count, imageShape[0], imageShape[1], imageShape[2]], 'float32');
    const batch: Batch = { images, indices: rows };
    if (this.labels) batch.labels = Int32Array.from(rows, (r) => (this.labels as Int32Array)[r]);
    return batch;
  }
}
