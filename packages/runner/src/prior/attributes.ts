import { type Dataset, GenviewError } from '@genview/core';
import { type PriorFeatures, tablePrior } from './features';

export interface LabelAttributeOptions {
  /**
   * Weak attributes derived from the class, one array per attribute column mapping class id → value
   * (e.g. Fashion-MNIST's coarse group footwear / top / other). Coarser than the label, so a prior built
   * from them is weaker supervision than the labels themselves.
   */
  columns?: number[][];
  /** Also keep the class id itself as a column (the strongest, fully supervised prior). */
  includeLabel?: boolean;
  /**
   * Also keep the dataset index as a last column. Under the 'attributes' kernel (match mode) it adds an
   * identity term: a few coarse attributes alone give a low-rank kernel, whose conditional mean embedding
   * merges every sample sharing them into one centroid and so drops instance discrimination.
   */
  includeIndex?: boolean;
}

/**
 * Prior features from a labelled dataset's classes: one categorical column per attribute, meant for the
 * 'attributes' kernel (match mode). Only the attributes are kept, never the images.
 */
export function labelAttributePrior(dataset: Pick<Dataset, 'info' | 'labels'>, options: LabelAttributeOptions = {}, where = 'prior'): PriorFeatures {
  const labels = dataset.labels;
  if (!labels) {
    throw new GenviewError('BAD_INPUT', `${dataset.info.name} has no labels to derive attributes from.`, {
      where,
      fix: 'use a labelled dataset, or a metadata table (attributeTablePrior) or a features file (source kind "file").',
    });
  }
  const columns = options.columns ?? [];
  const includeLabel = options.includeLabel ?? columns.length === 0;
  const includeIndex = options.includeIndex ?? false;
  const dim = columns.length + (includeLabel ? 1 : 0) + (includeIndex ? 1 : 0);
  if (dim === 0) {
    throw new GenviewError('INVALID_CONFIG', 'no attribute columns: columns is empty and includeLabel is false.', {
      where,
      fix: 'give at least one column (class id → attribute value) or set includeLabel: true.',
    });
  }
  const values = new Float32Array(labels.length * dim);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    columns.forEach((column, c) => {
      const v = column[label];
      if (v === undefined) {
        throw new GenviewError('INVALID_CONFIG', `attribute column ${c} has ${column.length} entries but class id ${label} occurs.`, {
          where: `${where}.columns[${c}]`,
          fix: 'give one value per class id (index = class id).',
        });
      }
      values[i * dim + c] = v;
    });
    if (includeLabel) values[i * dim + columns.length] = label;
    if (includeIndex) values[i * dim + dim - 1] = i;
  }
  return tablePrior(values, dim, where);
}

/** Prior features from per-sample metadata rows (weak attributes not derived from labels), in index order. */
export function attributeTablePrior(rows: readonly (readonly number[])[], where = 'prior'): PriorFeatures {
  const dim = rows[0]?.length ?? 0;
  const values = new Float32Array(rows.length * dim);
  rows.forEach((row, i) => {
    if (row.length !== dim) {
      throw new GenviewError('BAD_SHAPE', `metadata row ${i} has ${row.length} columns, row 0 has ${dim}.`, { where, fix: 'give every row the same columns.' });
    }
    values.set(row, i * dim);
  });
  return tablePrior(values, dim, where);
}
