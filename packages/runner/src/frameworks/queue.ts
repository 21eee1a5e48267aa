import { type Module, type ModuleVariable, type Rng, type Tensor2D, l2Normalize, stopGradient, tf } from '@genview/core';

/**
 * MoCo's queue of negative keys as a Module, so checkpoints hold it like any other state and a resumed
 * run sees exactly the negatives the uninterrupted run saw.
 */
export class KeyQueue implements Module {
  readonly name = 'queue';
  private readonly keys: tf.Variable;
  private readonly pointer: tf.Variable;

  constructor(
    readonly size: number,
    readonly dim: number,
    rng: Rng,
  ) {
    this.keys = tf.tidy(() => tf.variable(l2Normalize(tf.tensor2d(rng.normalArray(size * dim), [size, dim]), 1), false));
    this.pointer = tf.variable(tf.scalar(0, 'int32'), false, undefined, 'int32');
  }

  variables(): ModuleVariable[] {
    return [
      { name: 'keys', variable: this.keys, trainable: false, decay: false },
      { name: 'pointer', variable: this.pointer, trainable: false, decay: false },
    ];
  }

  /** The current negatives, [size, dim]. */
  get negatives(): Tensor2D {
    return this.keys as unknown as Tensor2D;
  }

  apply(): tf.Tensor {
    return this.keys;
  }

  /** Writes keys at the pointer, wrapping around; older keys are overwritten first. */
  enqueue(batch: Tensor2D): void {
    const n = batch.shape[0];
    const start = this.pointer.dataSync()[0];
    tf.tidy(() => {
      const rows = Array.from({ length: n }, (_, i) => (start + i) % this.size);
      const indices = tf.tensor2d(rows, [n, 1], 'int32');
      this.keys.assign(tf.tensorScatterUpdate(this.keys, indices, stopGradient(batch)));
      this.pointer.assign(tf.scalar((start + n) % this.size, 'int32'));
    });
  }

  dispose(): void {
    this.keys.dispose();
    this.pointer.dispose();
  }
}
