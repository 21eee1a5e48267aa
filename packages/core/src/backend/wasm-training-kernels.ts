/**
 * Kernels the stock wasm backend lacks for training (Conv2DBackpropFilter, depthwise backprop) or runs
 * slowly (Conv2DBackpropInput). Filled in by the engine work; registering nothing keeps wasm usable for
 * dense models and inference.
 */
export function registerWasmTrainingKernels(): void {}
