import type { Dataset } from '@genview/core';

/** The first `limit` items of a dataset, for quick runs; the dataset itself is unchanged. */
export function firstItems(dataset: Dataset, limit: number | undefined): Dataset {
  if (limit === undefined || limit >= dataset.info.size) return dataset;
  return {
    info: { ...dataset.info, size: limit },
    labels: dataset.labels?.subarray(0, limit),
    captions: dataset.captions?.slice(0, limit),
    read: (indices) => dataset.read(indices),
    ...(dataset.prefetch ? { prefetch: (indices: ArrayLike<number>) => dataset.prefetch?.(indices) } : {}),
  };
}
