import { GenviewError, type ModuleVariable, type Tensor, closestNames, tf } from '@genview/core';
import type { Optimizer, OptimizerState } from './types';

/**
 * What the concrete optimizers share: per-variable buffers ("slots") held as tf.Variables keyed
 * `"<slot>/<variable name>"`, gradient validation, the tidy around each update, and exact state
 * save/restore. Subclasses declare their slots in the constructor and implement `update`.
 */
export abstract class SlotOptimizer implements Optimizer {
  /** Every variable by name, so a gradient for a frozen buffer can be recognised and ignored. */
  private readonly byName = new Map<string, ModuleVariable>();
  /** The variables this optimizer changes, in the order given. */
  protected readonly trainable: ModuleVariable[];
  private readonly slots = new Map<string, tf.Variable>();
  private stepCount = 0;
  private disposed = false;

  protected constructor(
    readonly name: string,
    variables: ModuleVariable[],
  ) {
    for (const v of variables) {
      if (this.byName.has(v.name)) {
        throw new GenviewError('BAD_INPUT', `two module variables are both named "${v.name}"; optimizer state is keyed by name.`, {
          where: `optimizer (${name})`,
          fix: 'give every variable a unique dotted name (prefix each module’s variables with its own name).',
        });
      }
      this.byName.set(v.name, v);
    }
    this.trainable = variables.filter((v) => v.trainable);
  }

  /** Creates a zero buffer for `v`; float32 and shaped like the variable unless stated. */
  protected addSlot(slot: string, v: ModuleVariable, init?: () => Tensor): tf.Variable {
    const key = `${slot}/${v.name}`;
    // No explicit tf name: names are global in the engine and two optimizers may share variable names.
    // trainable=false keeps the buffers out of tf.variableGrads.
    const value = tf.tidy(() => (init ? init() : tf.zerosLike(v.variable)));
    const slotVar = tf.variable(value, false);
    value.dispose();
    this.slots.set(key, slotVar);
    return slotVar;
  }

  protected slot(slot: string, v: ModuleVariable): tf.Variable {
    const found = this.slots.get(`${slot}/${v.name}`);
    if (!found) throw new GenviewError('INTERNAL', `optimizer ${this.name} has no "${slot}" buffer for ${v.name}.`);
    return found;
  }

  /** Updates one variable in place; runs inside the step's tf.tidy. */
  protected abstract update(v: ModuleVariable, grad: Tensor, lr: number): void;

  /** Called after setState so subclasses can refresh anything mirrored on the JS side. */
  protected afterRestore(): void {}

  step(grads: Map<string, Tensor>, lr: number): void {
    this.assertLive('step');
    if (!Number.isFinite(lr) || lr < 0) {
      throw new GenviewError('BAD_INPUT', `learning rate must be a finite number >= 0, got ${lr}.`, {
        where: `optimizer (${this.name})`,
        fix: 'check the learning-rate schedule config (baseLr, warmup, totalSteps).',
      });
    }
    for (const [key, grad] of grads) {
      const v = this.byName.get(key);
      if (!v) {
        const near = closestNames(key, [...this.byName.keys()]);
        throw new GenviewError('BAD_INPUT', `gradient "${key}" matches no variable the optimizer was created with.`, {
          where: `optimizer (${this.name})`,
          fix: near.length > 0 ? `did you mean ${near.map((n) => `"${n}"`).join(', ')}?` : 'key gradients by ModuleVariable.name.',
        });
      }
      if (!v.trainable) continue;
      if (!sameShape(grad.shape, v.variable.shape)) {
        throw new GenviewError('BAD_SHAPE', `gradient of "${key}" has shape [${grad.shape}], the variable has [${v.variable.shape}].`, {
          where: `optimizer (${this.name})`,
        });
      }
    }
    tf.tidy(() => {
      for (const v of this.trainable) {
        const grad = grads.get(v.name);
        if (grad !== undefined) this.update(v, grad, lr);
      }
    });
    this.stepCount += 1;
  }

  getState(): OptimizerState {
    this.assertLive('getState');
    const tensors: Record<string, Tensor> = {};
    // tf.clone shares the data buffer; a later assign() swaps the variable's buffer rather than
    // writing into it, so the snapshot keeps its values.
    for (const [key, value] of this.slots) tensors[key] = tf.clone(value);
    return { step: this.stepCount, tensors };
  }

  setState(state: OptimizerState): void {
    this.assertLive('setState');
    const where = `optimizer (${this.name})`;
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new GenviewError('CHECKPOINT', `optimizer state step must be an integer >= 0, got ${state.step}.`, { where });
    }
    const given = Object.keys(state.tensors);
    const missing = [...this.slots.keys()].filter((k) => !(k in state.tensors));
    const extra = given.filter((k) => !this.slots.has(k));
    if (missing.length > 0 || extra.length > 0) {
      const list = (keys: string[]) => keys.slice(0, 5).join(', ') + (keys.length > 5 ? `, … (${keys.length} in all)` : '');
      throw new GenviewError(
        'CHECKPOINT',
        `optimizer state does not match this ${this.name} optimizer's variables` +
          (missing.length > 0 ? `; missing: ${list(missing)}` : '') +
          (extra.length > 0 ? `; unexpected: ${list(extra)}` : '') +
          '.',
        { where, fix: 'resume with the same optimizer name, settings and model the checkpoint was written with.' },
      );
    }
    // Check everything before assigning anything, so a bad state leaves the optimizer unchanged.
    for (const [key, slotVar] of this.slots) {
      const t = state.tensors[key];
      if (!sameShape(t.shape, slotVar.shape) || t.dtype !== slotVar.dtype) {
        throw new GenviewError(
          'CHECKPOINT',
          `optimizer state "${key}" is ${t.dtype} [${t.shape}], expected ${slotVar.dtype} [${slotVar.shape}].`,
          { where, fix: 'resume with the same model and optimizer the checkpoint was written with.' },
        );
      }
    }
    for (const [key, slotVar] of this.slots) {
      // assign() holds a counted reference to the data, so the caller may dispose its tensor afterwards.
      slotVar.assign(state.tensors[key]);
    }
    this.stepCount = state.step;
    this.afterRestore();
  }

  dispose(): void {
    if (this.disposed) return;
    for (const slotVar of this.slots.values()) slotVar.dispose();
    this.slots.clear();
    this.disposed = true;
  }

  private assertLive(what: string): void {
    if (this.disposed) {
      throw new GenviewError('BAD_INPUT', `${what}() called on a disposed ${this.name} optimizer.`, {
        fix: 'create a new optimizer (and setState from a checkpoint) instead of reusing a disposed one.',
      });
    }
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
