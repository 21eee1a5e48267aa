import { describe, expect, it } from 'vitest';
import { main as customPlugin } from '../../examples/custom-plugin';
import { main as customTrainer } from '../../examples/custom-trainer';

describe('examples', () => {
  it('custom-plugin registers a third-party loss and computes it', async () => {
    // views: (1,0)·(1,0) = 1 and (0,1)·(1,0) = 0 → mean cosine 0.5, scaled by −2.
    expect(await customPlugin()).toBeCloseTo(-1, 6);
  });

  it('custom-trainer trains SimCLR by hand and beats a random encoder on kNN', async () => {
    const result = await customTrainer({ steps: 150, batchSize: 128, trainImages: 5_000, testImages: 1_000 });
    expect(result.trainedKnn).toBeGreaterThan(result.randomKnn);
  });
});
