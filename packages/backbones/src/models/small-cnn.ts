import { type Backbone, type ForwardMode, GenviewError, type Rng, type Tensor, type Tensor2D, type Tensor4D, tf } from '@genview/core';
import { type BatchNorm, batchNorm } from '../nn/batch-norm';
import { type Conv2d, conv2d } from '../nn/conv';
import { convBn } from '../nn/conv-bn';
import { ParamStore } from '../nn/params';
import { globalAvgPool } from '../nn/pool';
import { checkImages, moduleState } from './common';

export interface SmallCnnOptions {
  inChannels: number;
  /** Output channels of the four blocks. Default [32, 64, 128, 256]. */
  widths?: number[];
  rng: Rng;
  /** False skips the random init (weights start at zero) for a network whose weights are loaded next. Default true. */
  initialize?: boolean;
  /** Module name; default 'small-cnn'. */
  name?: string;
}

export interface SmallCnn extends Backbone {
  featureMap(x: Tensor4D, mode: ForwardMode): Tensor4D;
}

/**
 * Four conv3x3 + BN + ReLU blocks, the first at stride 1 and the rest at stride 2, then global average
 * pooling: 28x28 → 28, 14, 7, 4; 32x32 → 32, 16, 8, 4. Strided convolutions rather than max-pooling
 * because they learn their downsampling and cost fewer kernels per step (one op instead of two), which
 * matters on the CPU backends this network exists for.
 * Variables: blocks.{i}.conv.weight, blocks.{i}.bn.{weight,bias,running_mean,running_var}.
 */
export function createSmallCnn(options: SmallCnnOptions): SmallCnn {
  const widths = options.widths ?? [32, 64, 128, 256];
  const name = options.name ?? 'small-cnn';
  const { inChannels, rng } = options;
  if (widths.length === 0 || !widths.every((w) => Number.isInteger(w) && w > 0)) {
    throw new GenviewError('INVALID_CONFIG', `small-cnn widths must be positive integers, got [${widths.join(', ')}].`, { where: name });
  }
  const store = ParamStore.root({ initialize: options.initialize });
  const blocks: Array<{ conv: Conv2d; bn: BatchNorm }> = [];
  let channels = inChannels;
  widths.forEach((width, i) => {
    const block = store.child(`blocks.${i}`);
    const conv = conv2d(block, 'conv', { inChannels: channels, outChannels: width, kernelSize: 3, stride: i === 0 ? 1 : 2 }, rng);
    blocks.push({ conv, bn: batchNorm(block, 'bn', { numFeatures: width }) });
    channels = width;
  });
  const state = moduleState(store, name);

  const featureMap = (x: Tensor4D, mode: ForwardMode): Tensor4D => {
    state.assertAlive();
    checkImages(x, name, inChannels);
    return tf.tidy(() => {
      let h = x;
      for (const { conv, bn } of blocks) h = convBn(conv, bn, h, mode);
      return h;
    });
  };

  return {
    name,
    featureDim: channels,
    variables: state.variables,
    dispose: state.dispose,
    featureMap,
    apply(x: Tensor, mode: ForwardMode): Tensor2D {
      return tf.tidy(() => globalAvgPool(featureMap(x as Tensor4D, mode)));
    },
  };
}
