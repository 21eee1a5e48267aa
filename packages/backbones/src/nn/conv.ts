import { GenviewError, type Rng, type Tensor4D, type Variable, tf } from '@genview/core';
import { heNormalInit, uniformInit } from './init';
import type { ParamStore } from './params';

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride?: number;
  /** Zero padding on every side; default floor(kernelSize / 2), PyTorch's usual choice. */
  padding?: number;
  /** Default false: every conv here is followed by batch norm, whose shift makes a bias redundant. */
  bias?: boolean;
  /**
   * 'he-fan-out' (torchvision ResNet), 'he-fan-in', or 'torch-default' (PyTorch's Conv2d default,
   * U(±1/sqrt(fan_in)) for weight and bias; timm's ViT patch embedding keeps it).
   */
  init?: 'he-fan-out' | 'he-fan-in' | 'torch-default';
}

export interface Conv2d {
  /** [kernel, kernel, in, out] (TensorFlow's HWIO layout). */
  readonly weight: Variable;
  readonly bias?: Variable;
  readonly outChannels: number;
  readonly stride: number;
  /** Zero padding on every side. */
  readonly padding: number;
  apply(x: Tensor4D): Tensor4D;
}

/**
 * A 2-D convolution over NHWC input with explicit symmetric padding. Explicit (numeric) padding rather
 * than 'same' matters for stride 2: 'same' pads only the bottom/right on even sizes, PyTorch pads both
 * sides, and matching PyTorch keeps ported weights and reference numbers valid.
 */
export function conv2d(store: ParamStore, name: string, options: Conv2dOptions, rng: Rng): Conv2d {
  const { inChannels, outChannels, kernelSize } = options;
  const stride = options.stride ?? 1;
  const padding = options.padding ?? Math.floor(kernelSize / 2);
  const init = options.init ?? 'he-fan-out';
  for (const [label, v] of [['inChannels', inChannels], ['outChannels', outChannels], ['kernelSize', kernelSize], ['stride', stride]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new GenviewError('INVALID_CONFIG', `conv "${store.qualify(name)}" needs a positive integer ${label}, got ${v}.`);
    }
  }
  const size = kernelSize * kernelSize * inChannels * outChannels;
  const fanIn = kernelSize * kernelSize * inChannels;
  const fanOut = kernelSize * kernelSize * outChannels;
  const layer = store.child(name);
  const values = () =>
    init === 'torch-default'
      ? uniformInit(rng, size, 1 / Math.sqrt(fanIn))
      : heNormalInit(rng, size, init === 'he-fan-out' ? fanOut : fanIn);
  const weight = layer.add('weight', [kernelSize, kernelSize, inChannels, outChannels], values);
  const bias = options.bias
    ? layer.add('bias', [outChannels], () => uniformInit(rng, outChannels, 1 / Math.sqrt(fanIn)), { decay: false })
    : undefined;
  return {
    weight,
    bias,
    outChannels,
    stride,
    padding,
    apply(x: Tensor4D): Tensor4D {
      return tf.tidy(() => {
        const y = tf.conv2d(x, weight as unknown as tf.Tensor4D, stride, padding);
        return bias ? tf.add(y, bias) : y;
      });
    },
  };
}
