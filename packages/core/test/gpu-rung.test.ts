import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tfcore from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { gradientCheckAgainstCpu, selectBackend, tf } from '@genview/core';
import { GPU_GRADIENT_TOLERANCE, loadWebGpuRung } from '../src/backend/webgpu-rung';

/** Registers `name` as a copy of the cpu backend, optionally with a wrong filter gradient. */
function registerCpuCopy(name: string, broken: boolean): void {
  if (tf.findBackendFactory(name)) return;
  tf.registerBackend(name, () => new MathBackendCPU(), 0);
  for (const config of tfcore.getKernelsForBackend('cpu')) {
    const kernelFunc: tfcore.KernelFunc =
      broken && config.kernelName === 'Conv2DBackpropFilter'
        ? (args) => {
            const out = config.kernelFunc(args) as tfcore.TensorInfo;
            const backend = args.backend as MathBackendCPU;
            const values = backend.data.get(out.dataId).values as Float32Array;
            for (let i = 0; i < values.length; i++) values[i] = (values[i] as number) * 1.01;
            return out;
          }
        : config.kernelFunc;
    tf.registerKernel({ ...config, backendName: name, kernelFunc });
  }
}

const scope = globalThis as unknown as { navigator?: unknown };
const hadNavigator = 'navigator' in globalThis;

/** Forgets the navigator.gpu a previous load installed, so the next one asks its own Dawn module. */
function forgetGpu(): void {
  if (hadNavigator) delete (scope.navigator as { gpu?: unknown }).gpu;
  else delete scope.navigator;
}

afterEach(async () => {
  forgetGpu();
  await tf.setBackend('cpu');
});

/** A stand-in for Dawn's module and tfjs-backend-webgpu: `adapter` decides what requestAdapter finds. */
function fakeModules(adapter: object | null, broken: boolean) {
  return async (specifier: string): Promise<unknown> => {
    if (specifier === 'webgpu') return { create: () => ({ requestAdapter: async () => adapter }), globals: {} };
    if (specifier === '@tensorflow/tfjs-backend-webgpu') {
      if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
      for (const config of tfcore.getKernelsForBackend('webgpu')) tf.unregisterKernel(config.kernelName, 'webgpu');
      registerCpuCopy(broken ? 'webgpu-broken-source' : 'webgpu-good-source', broken);
      tf.registerBackend('webgpu', () => new MathBackendCPU(), 0);
      for (const config of tfcore.getKernelsForBackend(broken ? 'webgpu-broken-source' : 'webgpu-good-source')) {
        tf.registerKernel({ ...config, backendName: 'webgpu' });
      }
      return {};
    }
    throw new Error(`Cannot find module '${specifier}'`);
  };
}

describe('GPU rung self-check', () => {
  it('finds no difference between the cpu backend and a faithful copy, and a 1 % error in one kernel', async () => {
    registerCpuCopy('cpu-copy', false);
    registerCpuCopy('cpu-broken', true);
    expect(await gradientCheckAgainstCpu('cpu-copy')).toBe(0);
    const worst = await gradientCheckAgainstCpu('cpu-broken');
    expect(worst).toBeGreaterThan(GPU_GRADIENT_TOLERANCE);
    expect(worst).toBeLessThan(0.05);
  });

  it('the wasm rung passes it within float rounding', async () => {
    await selectBackend({ force: 'wasm' });
    expect(await gradientCheckAgainstCpu('wasm')).toBeLessThan(1e-4);
  });

  it('the webgpu rung says why it is skipped: not installed, no adapter, or wrong gradients', async () => {
    const report = await selectBackend();
    expect(report.tried.find((t) => t.name === 'webgpu')).toEqual({ name: 'webgpu', ok: false, reason: 'not installed' });
    await expect(loadWebGpuRung(fakeModules(null, false))).rejects.toThrow(/no adapter .*Vulkan/);
    forgetGpu();
    await expect(loadWebGpuRung(fakeModules({}, true))).rejects.toThrow(/gradients on webgpu differ from the cpu backend's by .*: not used/);
  });

  it('takes the webgpu backend when an adapter exists and its gradients match', async () => {
    await loadWebGpuRung(fakeModules({}, false));
    expect(tf.getBackend()).toBe('webgpu');
  });
});
