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

/**
 * Batches that keep pseudo labels together without dropping any sample: per epoch the labels are put in
 * a seeded random order, each label's members shuffled, the resulting label-by-label sequence is cut
 * into consecutive batches (the last partial batch dropped), and the batches are shuffled, so labels
 * interleave over steps. A batch then holds one label, or the tail of one and the head of the next, so with the negatives mask on top an anchor meets nearly a whole
 * batch of same-label negatives, where a uniformly mixed batch of B with L labels gives it only about
 * 2B/L. Unlike PseudoLabelBatchOrder, labels smaller than a batch still train. A pure function of
 * (seed, step), so resumed runs see the same batches.
 */
export class GroupedBatchOrder implements BatchSchedule {
  readonly stepsPerEpoch: number;
  private readonly groups: Int32Array[];
  private cachedEpoch = -1;
  private cachedBatches: Int32Array[] = [];

  constructor(
    private readonly seed: number,
    labels: Int32Array,
    readonly batchSize: number,
  ) {
    if (!(Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= labels.length)) {
      throw new GenviewError('INVALID_CONFIG', `grouped batches of ${batchSize} need at least that many training samples, the pseudo labels cover ${labels.length}.`, {
        where: 'trainer.batchSize',
        fix: `use a batch size between 1 and ${labels.length}.`,
      });
    }
    const byLabel = new Map<number, number[]>();
    for (const [i, label] of labels.entries()) {
      const members = byLabel.get(label);
      if (members) members.push(i);
      else byLabel.set(label, [i]);
    }
    this.groups = [...byLabel.entries()].sort((a, b) => a[0] - b[0]).map(([, members]) => Int32Array.from(members));
    this.stepsPerEpoch = Math.floor(labels.length / batchSize);
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
    const rng = new Rng(this.seed).fork(`grouped-epoch-${epoch}`);
    const order = rng.shuffleInPlace(Int32Array.from(this.groups.keys()));
    const sequence = new Int32Array(this.groups.reduce((n, g) => n + g.length, 0));
    let at = 0;
    for (const g of order) {
      sequence.set(rng.shuffleInPlace(Int32Array.from(this.groups[g])), at);
      at += this.groups[g].length;
    }
    const batches = Array.from({ length: this.stepsPerEpoch }, (_, b) => sequence.slice(b * this.batchSize, (b + 1) * this.batchSize));
    return rng.shuffleInPlace(batches);
  }
}
