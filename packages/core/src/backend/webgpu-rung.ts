import * as tf from '@tensorflow/tfjs-core';
import { gradientCheckAgainstCpu } from './gradient-check';

/** Largest relative gradient difference from the cpu backend a GPU rung may show (float32 reductions in another order). */
export const GPU_GRADIENT_TOLERANCE = 1e-3;

interface DawnModule {
  create?: (flags: string[]) => unknown;
  globals?: Record<string, unknown>;
}

interface GpuNavigator {
  gpu?: { requestAdapter(options?: { powerPreference?: string }): Promise<unknown | null> };
}

/**
 * Makes WebGPU visible to TensorFlow.js in Node: the `webgpu` package (Dawn's Node bindings) provides
 * `navigator.gpu`, which @tensorflow/tfjs-backend-webgpu looks for when it is imported. Throws when
 * Dawn finds no adapter (no GPU, or no driver it can use: Vulkan on Linux).
 */
export async function exposeWebGpu(importOptional: (specifier: string) => Promise<unknown>): Promise<void> {
  const scope = globalThis as unknown as { navigator?: GpuNavigator };
  if (!scope.navigator?.gpu) {
    const dawn = (await importOptional('webgpu')) as DawnModule;
    if (typeof dawn.create !== 'function') throw new Error('the webgpu package has no create()');
    Object.assign(globalThis, dawn.globals ?? {});
    const gpu = dawn.create([]) as GpuNavigator['gpu'];
    if (scope.navigator) Object.defineProperty(scope.navigator, 'gpu', { value: gpu, configurable: true });
    else scope.navigator = { gpu };
  }
  const adapter = await scope.navigator?.gpu?.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('WebGPU found no adapter (no GPU, or no driver Dawn can use: on Linux it needs Vulkan)');
}

/**
 * Loads the WebGPU backend and keeps it only if one small training step's gradients match the cpu
 * backend's: the rung cannot be tested on the machines without a GPU where this library is built.
 */
export async function loadWebGpuRung(importOptional: (specifier: string) => Promise<unknown>): Promise<void> {
  await exposeWebGpu(importOptional);
  await importOptional('@tensorflow/tfjs-backend-webgpu');
  if (!tf.findBackendFactory('webgpu')) throw new Error('@tensorflow/tfjs-backend-webgpu registered no backend');
  const worst = await gradientCheckAgainstCpu('webgpu');
  await tf.ready();
  if (!(worst <= GPU_GRADIENT_TOLERANCE)) {
    throw new Error(`a training step's gradients on webgpu differ from the cpu backend's by ${worst.toExponential(2)} (allowed ${GPU_GRADIENT_TOLERANCE}): not used`);
  }
}
