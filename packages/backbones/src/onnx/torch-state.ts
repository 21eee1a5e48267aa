import { GenviewError, type SafetensorsTensor } from '@genview/core';

/** A backbone's weights by torchvision/timm name, in PyTorch layouts (OIHW convolutions, [out, in] linear). */
export type TorchState = Readonly<Record<string, SafetensorsTensor>>;

export function weight(state: TorchState, key: string): { data: Float32Array; shape: number[] } {
  const t = state[key];
  if (t === undefined || !(t.data instanceof Float32Array)) {
    throw new GenviewError('INTERNAL', `the ONNX export expected a float tensor "${key}" in the backbone.`, { where: 'onnx export' });
  }
  return { data: t.data, shape: [...t.shape] };
}

export function has(state: TorchState, key: string): boolean {
  return state[key] !== undefined;
}
