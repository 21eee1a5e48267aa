import { GenviewError, type ModuleVariable, tf } from '@genview/core';

export interface ParamOptions {
  /** False for buffers such as batch-norm running statistics. Default true. */
  trainable?: boolean;
  /** False for biases, normalisation parameters and embeddings. Default true. */
  decay?: boolean;
}

/**
 * Collects a module's variables under dotted names. `child('layer1.0')` returns a view that prefixes
 * names and shares the same list, so nested layers register into their owning module.
 *
 * The tf.Variable itself is left with tf's auto-generated name: tf names are global to the engine, and
 * two instances of one network (an online and a momentum encoder) would otherwise collide.
 */
export class ParamStore {
  private constructor(
    private readonly list: ModuleVariable[],
    private readonly names: Set<string>,
    private readonly prefix: string,
    /** False skips random draws (see `add`). */
    readonly initialize: boolean,
  ) {}

  /**
   * `initialize: false` builds the network without drawing random weights (they start at zero; constant
   * inits such as norm scales are kept), for a network whose weights are loaded right after: drawing
   * ResNet-50's 23.5M normals in JS takes seconds.
   */
  static root(options: { initialize?: boolean } = {}): ParamStore {
    return new ParamStore([], new Set(), '', options.initialize ?? true);
  }

  child(name: string): ParamStore {
    return new ParamStore(this.list, this.names, this.qualify(name), this.initialize);
  }

  qualify(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }

  /** `init` is the initial values, or a function drawing them (skipped, giving zeros, when the store does not initialize). */
  add(name: string, shape: number[], init: Float32Array | (() => Float32Array), options: ParamOptions = {}): tf.Variable {
    const full = this.qualify(name);
    const size = shape.reduce((a, b) => a * b, 1);
    const values = typeof init === 'function' ? (this.initialize ? init() : new Float32Array(size)) : init;
    if (this.names.has(full)) {
      throw new GenviewError('INTERNAL', `variable "${full}" is defined twice in one module.`);
    }
    if (size !== values.length) {
      throw new GenviewError('INTERNAL', `variable "${full}" has shape [${shape.join(', ')}] but ${values.length} initial values.`);
    }
    const trainable = options.trainable ?? true;
    const initial = tf.tensor(values, shape, 'float32');
    const variable = tf.variable(initial, trainable);
    // The variable holds its own reference to the data; the initial tensor can go.
    initial.dispose();
    this.names.add(full);
    this.list.push({ name: full, variable, trainable, decay: trainable && (options.decay ?? true) });
    return variable;
  }

  variables(): ModuleVariable[] {
    return [...this.list];
  }
}
