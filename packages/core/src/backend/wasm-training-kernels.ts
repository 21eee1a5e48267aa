import { type KernelConfig, getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './wasm/conv2d-backprop-filter';
import { conv2DBackpropInputConfig } from './wasm/conv2d-backprop-input';
import { depthwiseConv2dNativeBackpropFilterConfig } from './wasm/depthwise-backprop-filter';
import { depthwiseConv2dNativeBackpropInputConfig } from './wasm/depthwise-backprop-input';
import { tileConfig } from './wasm/tile';
import { unsortedSegmentSumConfig } from './wasm/unsorted-segment-sum';

interface TrainingKernel {
  config: KernelConfig;
  /** Replace a stock kernel (kept only when it is missing otherwise, so a newer wasm build wins). */
  replace: boolean;
}

const TRAINING_KERNELS: TrainingKernel[] = [
  { config: conv2DBackpropFilterConfig, replace: false },
  { config: conv2DBackpropInputConfig, replace: true },
  { config: depthwiseConv2dNativeBackpropFilterConfig, replace: false },
  { config: depthwiseConv2dNativeBackpropInputConfig, replace: false },
  { config: tileConfig, replace: true },
  { config: unsortedSegmentSumConfig, replace: false },
];

// A symbol from the global registry, so a second copy of this module (ESM and CJS builds side by side)
// still recognises kernels the first one registered.
const MARK = Symbol.for('genview.wasmTrainingKernel');
for (const { config } of TRAINING_KERNELS) Object.defineProperty(config.kernelFunc, MARK, { value: true });

function isGenviewKernel(config: KernelConfig | undefined): boolean {
  return config != null && (config.kernelFunc as unknown as Record<symbol, unknown>)[MARK] === true;
}

/**
 * Kernels the stock wasm backend lacks for training (Conv2DBackpropFilter, depthwise backprop,
 * UnsortedSegmentSum for gather's gradient) or runs slowly (Conv2DBackpropInput, Tile in batch norm's
 * gradient); the conv gradients are rewritten as forward convs on its XNNPACK kernels. Safe to call again:
 * kernels already registered by GenView are left as they are.
 */
export function registerWasmTrainingKernels(): void {
  for (const { config, replace } of TRAINING_KERNELS) {
    const existing = getKernel(config.kernelName, 'wasm') as KernelConfig | undefined;
    if (isGenviewKernel(existing)) continue;
    if (existing != null) {
      if (!replace) continue;
      unregisterKernel(config.kernelName, 'wasm');
    }
    registerKernel(config);
  }
}
