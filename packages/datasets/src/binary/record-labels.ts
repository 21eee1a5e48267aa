import { open } from 'node:fs/promises';
import { GenviewError } from '@genview/core';

/** Records read per block when collecting labels: bounded memory whatever the file size. */
const BLOCK_RECORDS = 2048;

/**
 * The byte at `offset` inside each of `count` records of `recordBytes` (CIFAR keeps its labels in the
 * first bytes of every record), checked against `classes`: a value out of range means the file is not
 * in this format, and the error names it.
 */
export async function readRecordLabels(path: string, count: number, recordBytes: number, offset: number, classes: number, fix: string): Promise<Int32Array> {
  const labels = new Int32Array(count);
  const handle = await open(path, 'r');
  try {
    const block = new Uint8Array(Math.min(count, BLOCK_RECORDS) * recordBytes);
    for (let first = 0; first < count; first += BLOCK_RECORDS) {
      const records = Math.min(BLOCK_RECORDS, count - first);
      await handle.read(block, 0, records * recordBytes, first * recordBytes);
      for (let r = 0; r < records; r++) {
        const label = block[r * recordBytes + offset];
        if (label >= classes) {
          throw new GenviewError('BAD_INPUT', `${path}: record ${first + r} has label ${label}, outside [0, ${classes}): this is not the expected binary layout.`, {
            where: path,
            fix,
          });
        }
        labels[first + r] = label;
      }
    }
  } finally {
    await handle.close();
  }
  return labels;
}
