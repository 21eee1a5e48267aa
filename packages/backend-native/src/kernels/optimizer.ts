import type { KernelFunc } from '@tensorflow/tfjs-core';
import type { NativeAddon } from '../addon';
import { type KernelArgs, allocOutput, f32, output } from './util';

/** Name of the fused Adam step whose inputs, attributes and outputs @genview/core defines (ADAM_UPDATE_KERNEL). */
export const ADAM_UPDATE = 'GenviewAdamUpdate';

const INPUTS = ['w', 'g', 'm', 'v'] as const;
const ATTRS = ['beta1', 'beta2', 'eps', 'stepSize', 'sqrtBiasCorrection2', 'l2', 'decayFactor'] as const;

/** [w', m', v'] in one pass of the addon over the four inputs. */
export function adamUpdateKernel(addon: NativeAddon): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as unknown as KernelArgs;
    const [w, g, m, v] = INPUTS.map((name) => {
      const values = f32(backend, inputs[name]);
      if (!values) throw new Error(`${ADAM_UPDATE}: input '${name}' must be a float32 tensor, got ${inputs[name]?.dtype ?? 'none'}.`);
      return values;
    }) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const scalars = ATTRS.map((name) => {
      const value = Number(attrs[name]);
      if (!Number.isFinite(value)) throw new Error(`${ADAM_UPDATE}: attribute '${name}' must be a finite number, got ${attrs[name]}.`);
      return value;
    });
    const n = w.length;
    const [wOut, mOut, vOut] = [allocOutput(n), allocOutput(n), allocOutput(n)];
    addon.adamUpdate(w, g, m, v, wOut, mOut, vOut, ...(scalars as [number, number, number, number, number, number, number]));
    const shape = [...(inputs.w?.shape ?? [])];
    return [output(backend, shape, wOut), output(backend, shape, mOut), output(backend, shape, vOut)];
  };
}
