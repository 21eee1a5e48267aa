import { type ForwardMode, type Tensor4D, tf } from '@genview/core';
import type { BatchNorm } from './batch-norm';
import type { Conv2d } from './conv';

/**
 * conv → batch norm → optional ReLU, the unit of every CNN backbone here. In eval mode the batch norm
 * is a fixed per-channel affine map, so it is folded into the convolution (weights scaled per output
 * channel, shift as bias) and the whole unit runs as one fused kernel: frozen encoders (quality scorers,
 * kNN and probe features) then skip three full-size elementwise passes per layer, which on CPU cost
 * about as much as the convolutions of a small network. Training mode is the plain composition, so
 * batch statistics and running averages behave exactly as before.
 */
export function convBn(conv: Conv2d, bn: BatchNorm, x: Tensor4D, mode: ForwardMode, activation: 'relu' | 'linear' = 'relu'): Tensor4D {
  return tf.tidy(() => {
    if (mode.training || conv.bias) return bn.apply(conv.apply(x), mode, activation);
    const { scale, shift } = bn.evalScaleShift();
    // HWIO weights: the output channel is the last axis, so the [C] scale broadcasts onto it.
    const filter = tf.mul(conv.weight, scale) as tf.Tensor4D;
    return tf.fused.conv2d({ x, filter, strides: conv.stride, pad: conv.padding, bias: shift, activation });
  });
}
