import { GenviewError, Rng } from '@genview/core';
import type { BatchSchedule } from '../../trainer/data-order';

/**
 * MCL upstream's batch sampler as a batch schedule: every batch holds samples of one pseudo label only,
 * so all in-batch negatives share the anchor's label. Per epoch, each label's members are shuffled and
 * cut into full batches (the remainder and labels smaller than a batch are skipped), and the batches are
 * taken round-robin over the labels (label order shuffled per epoch). A pure function of (seed, step),
 * so resumed runs see the same batches.
 */
export class PseudoLabelBatchOrder implements BatchSchedule {
  readonly stepsPerEpoch: number;
  private readonly groups: Int32Array[];
  private cachedEpoch = -1;
  private cachedBatches: Int32Array[] = [];

  constructor(
    private readonly seed: number,
    labels: Int32Array,
    readonly batchSize: number,
  ) {
    const byLabel = new Map<number, number[]>();
    labels.forEach((label, i) => {
      const members = byLabel.get(label);
      if (members) members.push(i);
      else byLabel.set(label, [i]);
    });
    this.groups = [...byLabel.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([, members]) => Int32Array.from(members))
      .filter((members) => members.length >= batchSize);
    this.stepsPerEpoch = this.groups.reduce((n, g) => n + Math.floor(g.length / batchSize), 0);
    if (this.stepsPerEpoch === 0) {
      let largest = 0;
      for (const members of byLabel.values()) largest = Math.max(largest, members.length);
      throw new GenviewError('INVALID_CONFIG', `no pseudo label has ${batchSize} samples (the largest has ${largest}), so the sampler can fill no batch.`, {
        where: 'framework.negatives',
        fix: `lower trainer.batchSize to at most ${largest}, use fewer clusters or stages, or use negatives: 'mask'.`,
      });
    }
  }

  indices(step: number): Int32Array {
    const epoch = Math.floor(step / this.stepsPerEpoch);
    if (epoch !== this.cachedEpoch) {
      this.cachedBatches = this.plan(epoch);
      this.cachedEpoch = epoch;
    }
    return this.cachedBatches[step % this.stepsPerEpoch];
  }

  private plan(epoch: number): Int32Array[] {
    const rng = new Rng(this.seed).fork(`pseudo-label-epoch-${epoch}`);
    const queues = this.groups.map((members) => {
      const shuffled = rng.shuffleInPlace(Int32Array.from(members));
      const batches: Int32Array[] = [];
      for (let start = 0; start + this.batchSize <= shuffled.length; start += this.batchSize) batches.push(shuffled.slice(start, start + this.batchSize));
      return batches;
    });
    rng.shuffleInPlace(queues);
    const out: Int32Array[] = [];
    for (let round = 0; out.length < this.stepsPerEpoch; round++) {
      for (const queue of queues) if (round < queue.length) out.push(queue[round]);
    }
    return out;
  }
}
