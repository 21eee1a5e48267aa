import { GenviewError, type Tensor, assertShape } from '@genview/core';

/**
 * Checks a batch of token ids ([N, contextLength] int32, every id in [0, vocabSize)) and returns its
 * values. The range is checked on the host because out-of-range ids do not fail everywhere: some
 * backends' gather returns zeros for them, which would train on silent garbage.
 */
export function checkTokenIds(ids: Tensor, where: string, vocabSize: number, contextLength: number): Int32Array {
  assertShape(ids, [null, null], 'token ids', where);
  if (ids.shape[1] !== contextLength) {
    // The position embedding is learned per position, so another length has no embedding to read.
    throw new GenviewError('BAD_SHAPE', `token ids have ${ids.shape[1]} positions per row, expected contextLength ${contextLength}.`, {
      where,
      fix: `pad or cut every row to ${contextLength} tokens (Tokenizer.encodeBatch does), or build the tower with the tokenizer's contextLength.`,
    });
  }
  if (ids.dtype !== 'int32') {
    throw new GenviewError('BAD_INPUT', `token ids must be int32, got ${ids.dtype}.`, {
      where,
      fix: "build them as tf.tensor2d(encoded.ids, encoded.shape, 'int32') from Tokenizer.encodeBatch.",
    });
  }
  if (ids.shape[0] < 1) throw new GenviewError('BAD_INPUT', 'token ids hold no rows; a text tower needs at least one text.', { where });
  const values = ids.dataSync() as Int32Array;
  for (let i = 0; i < values.length; i++) {
    const id = values[i];
    if (id < 0 || id >= vocabSize) {
      const row = Math.floor(i / contextLength);
      throw new GenviewError('BAD_INPUT', `token id ${id} (row ${row}, position ${i % contextLength}) is outside the vocabulary [0, ${vocabSize}).`, {
        where,
        fix: 'use the tokenizer the tower was built for, and set vocabSize to its Tokenizer.vocabSize.',
      });
    }
  }
  return values;
}
