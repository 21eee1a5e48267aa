import type { Tensor } from '@genview/core';

/**
 * Everything an optimizer needs to continue exactly where it stopped: the number of `step()` calls
 * and its per-variable buffers, keyed `"<slot>/<variable name>"` (e.g. `"exp_avg/backbone.conv1.kernel"`).
 * Slot names follow PyTorch's state-dict names so checkpoints read alike.
 */
export interface OptimizerState {
  step: number;
  tensors: Record<string, Tensor>;
}

/** Updates a module's trainable variables in place from gradients keyed by `ModuleVariable.name`. */
export interface Optimizer {
  /** The config name: 'sgd', 'lars', 'adam' or 'adamw'. */
  readonly name: string;
  /**
   * One update at learning rate `lr`. Gradients of non-trainable variables are ignored; a trainable
   * variable without a gradient is skipped this step (as PyTorch skips `grad is None`). The caller
   * keeps ownership of `grads`.
   */
  step(grads: Map<string, Tensor>, lr: number): void;
  /** A snapshot the caller owns: dispose its tensors once saved. Later steps do not change it. */
  getState(): OptimizerState;
  /** Restores a snapshot from getState() (or a checkpoint); copies the values, so the caller may dispose its tensors. */
  setState(state: OptimizerState): void;
  /** Frees the optimizer's buffers; the module's variables are left alone. */
  dispose(): void;
}
