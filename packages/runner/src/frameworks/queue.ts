import { GenviewError, type Module, type ModuleVariable, type Rng, type Tensor2D, l2Normalize, stopGradient, tf } from '@genview/core';

/**
 * MoCo's queue of negative keys as a Module, so checkpoints hold it like any other state and a resumed
 * run sees exactly the negatives the uninterrupted run saw. Beside each key it keeps the key's negative
 * group (ViewBatch.negativeGroups, MCL's pseudo label), so negatives can be restricted to the anchor's
 * group in the queue as well as in the batch.
 */
export class KeyQueue implements Module {
  /** Group of a slot whose key has no known group: the random initial keys, and keys enqueued without groups. */
  static readonly UNKNOWN_GROUP = -1;
  readonly name = 'queue';
  private readonly keys: tf.Variable;
  private readonly pointer: tf.Variable;
  private readonly groups: tf.Variable;

  constructor(
    readonly size: number,
    readonly dim: number,
    rng: Rng,
  ) {
    this.keys = tf.tidy(() => tf.variable(l2Normalize(tf.tensor2d(rng.normalArray(size * dim), [size, dim]), 1), false));
    // In tidy: a variable made from a tensor keeps that tensor alive, so the initial value must be tidied.
    this.pointer = tf.tidy(() => tf.variable(tf.scalar(0, 'int32'), false, undefined, 'int32'));
    this.groups = tf.tidy(() => tf.variable(tf.fill([size], KeyQueue.UNKNOWN_GROUP, 'int32'), false, undefined, 'int32'));
  }

  variables(): ModuleVariable[] {
    return [
      { name: 'keys', variable: this.keys, trainable: false, decay: false },
      { name: 'pointer', variable: this.pointer, trainable: false, decay: false },
      // Optional: checkpoints written before groups existed load with every slot unknown.
      { name: 'groups', variable: this.groups, trainable: false, decay: false, optional: true },
    ];
  }

  /** The current negatives, [size, dim]. */
  get negatives(): Tensor2D {
    return this.keys as unknown as Tensor2D;
  }

  apply(): tf.Tensor {
    return this.keys;
  }

  /**
   * queueNegativeMask [N, size] for anchors of the given groups: 1 where a slot's key has the anchor's
   * group. One broadcast comparison of int32 ids; slots of unknown group never match, since the anchors'
   * groups are non-negative.
   */
  groupMask(anchorGroups: Int32Array): Tensor2D {
    for (const g of anchorGroups) {
      if (g < 0) {
        throw new GenviewError('BAD_INPUT', `negative groups must be non-negative ids, got ${g}.`, {
          where: 'ViewBatch.negativeGroups',
          fix: 'use pseudo labels (0, 1, 2, ...) as groups.',
        });
      }
    }
    return tf.tidy(
      () => tf.cast(tf.equal(tf.tensor2d(anchorGroups, [anchorGroups.length, 1], 'int32'), tf.reshape(this.groups, [1, this.size])), 'float32') as Tensor2D,
    );
  }

  /**
   * Writes keys at the pointer, wrapping around; older keys are overwritten first. `groups` [N] are the
   * keys' negative groups; without them the slots become unknown, so a key of unknown group never
   * passes as a same-group negative later.
   */
  enqueue(batch: Tensor2D, groups?: Int32Array): void {
    const n = batch.shape[0];
    if (groups && groups.length !== n) {
      throw new GenviewError('BAD_SHAPE', `${groups.length} negative groups for ${n} keys.`, { where: 'KeyQueue.enqueue', fix: 'give one group per key.' });
    }
    const start = this.pointer.dataSync()[0];
    tf.tidy(() => {
      const rows = Array.from({ length: n }, (_, i) => (start + i) % this.size);
      const indices = tf.tensor2d(rows, [n, 1], 'int32');
      this.keys.assign(tf.tensorScatterUpdate(this.keys, indices, stopGradient(batch)));
      const keyGroups = groups ? tf.tensor1d(groups, 'int32') : tf.fill([n], KeyQueue.UNKNOWN_GROUP, 'int32');
      this.groups.assign(tf.tensorScatterUpdate(this.groups, indices, keyGroups));
      this.pointer.assign(tf.scalar((start + n) % this.size, 'int32'));
    });
  }

  /** The negative group of every slot (KeyQueue.UNKNOWN_GROUP where unknown), read back. */
  slotGroups(): Int32Array {
    return Int32Array.from(this.groups.dataSync());
  }

  dispose(): void {
    this.keys.dispose();
    this.pointer.dispose();
    this.groups.dispose();
  }
}
