import { type KernelBackend, type NamedAttrMap, type NamedTensorInfoMap, type TensorInfo, getKernel } from '@tensorflow/tfjs-core';

/**
 * Runs wasm kernels on TensorInfos, below the engine: nothing here is recorded on the gradient tape or
 * counted as an engine tensor, so a composite kernel costs no bookkeeping and cannot leak engine
 * tensors. Every kernel output holds one backend reference (a wasm Reshape returns its input's dataId
 * after an incRef), so releasing each output exactly once keeps the refcounts right.
 */
export class KernelScope {
  private readonly owned: TensorInfo[] = [];

  constructor(readonly backend: KernelBackend) {}

  run(kernelName: string, inputs: NamedTensorInfoMap | TensorInfo[], attrs: NamedAttrMap = {}): TensorInfo {
    const kernel = getKernel(kernelName, 'wasm');
    if (kernel == null) throw new Error(`GenView wasm training kernels need the wasm kernel ${kernelName}, which is not registered.`);
    // Concat and Pack take their inputs as an array; the registry's type only names the map form.
    const out = kernel.kernelFunc({ inputs: inputs as NamedTensorInfoMap, backend: this.backend, attrs });
    const info = Array.isArray(out) ? out[0] : out;
    this.owned.push(info);
    return info;
  }

  /** Uploads host values as a backend buffer owned by this scope. */
  write(values: Float32Array, shape: number[]): TensorInfo {
    const info: TensorInfo = { dataId: this.backend.write(values, shape, 'float32'), shape, dtype: 'float32' };
    this.owned.push(info);
    return info;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    if (sameShape(x.shape, shape)) return x;
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    if (perm.every((p, i) => p === i)) return x;
    return this.run('Transpose', { x }, { perm });
  }

  /** Slices only when the window is not the whole tensor: the wasm Slice copies in JavaScript. */
  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    if (begin.every((b) => b === 0) && sameShape(x.shape, size)) return x;
    return this.run('Slice', { x }, { begin, size });
  }

  zeros(shape: number[]): TensorInfo {
    return this.run('Fill', {}, { shape, value: 0, dtype: 'float32' });
  }

  /**
   * Hands `result` to the caller with one reference of its own and releases every other intermediate.
   * A result that is an input of the kernel (an identity step) is copied, since the engine will own and
   * later dispose what the kernel returns.
   */
  finish(result: TensorInfo): TensorInfo {
    const index = this.owned.indexOf(result);
    let out = result;
    if (index >= 0) this.owned.splice(index, 1);
    else {
      out = this.run('Identity', { x: result });
      this.owned.pop();
    }
    this.dispose();
    return out;
  }

  dispose(): void {
    for (const info of this.owned) this.backend.disposeData(info.dataId);
    this.owned.length = 0;
  }
}

/** Runs `body` with a fresh scope; intermediates are released even when a kernel throws. */
export function withKernelScope(backend: KernelBackend, body: (scope: KernelScope) => TensorInfo): TensorInfo {
  const scope = new KernelScope(backend);
  try {
    return scope.finish(body(scope));
  } finally {
    scope.dispose();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
