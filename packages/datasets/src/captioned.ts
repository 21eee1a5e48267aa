import { type Batch, type Dataset, GenviewError } from '@genview/core';

/**
 * A dataset with one caption per image: `captions` in index order, and each batch's rows captioned.
 * Text-conditioned generation and image-text training read captions from batches, so a dataset that
 * only listed them would silently give those paths nothing.
 */
export class CaptionedDataset implements Dataset {
  readonly info: Dataset['info'];
  readonly labels?: Int32Array;

  constructor(
    private readonly inner: Dataset,
    readonly captions: string[],
  ) {
    if (captions.length !== inner.info.size) {
      throw new GenviewError('BAD_SHAPE', `got ${captions.length} captions for ${inner.info.size} images.`, {
        where: `${inner.info.name}.captions`,
        fix: 'give exactly one caption per image, in index order.',
      });
    }
    this.info = inner.info;
    this.labels = inner.labels;
  }

  prefetch(indices: ArrayLike<number>): void {
    this.inner.prefetch?.(indices);
  }

  async read(indices: ArrayLike<number>): Promise<Batch> {
    const batch = await this.inner.read(indices);
    return { ...batch, captions: Array.from(batch.indices, (i) => this.captions[i] as string) };
  }
}
