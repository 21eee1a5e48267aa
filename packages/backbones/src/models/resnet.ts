import { type Backbone, type ForwardMode, GenviewError, type Rng, type Tensor, type Tensor2D, type Tensor4D, tf } from '@genview/core';
import { type BatchNorm, batchNorm } from '../nn/batch-norm';
import { type Conv2d, conv2d } from '../nn/conv';
import { convBn } from '../nn/conv-bn';
import { ParamStore } from '../nn/params';
import { globalAvgPool, maxPool } from '../nn/pool';
import { checkImages, moduleState } from './common';

export type ResNetDepth = 18 | 34 | 50;
export type ResNetStem = 'cifar' | 'imagenet';

export interface ResNetOptions {
  depth: ResNetDepth;
  /** 'cifar': 3x3 conv stride 1, no max-pool (small images). 'imagenet': 7x7 stride 2 + 3x3/2 max-pool. Default 'cifar'. */
  stem?: ResNetStem;
  /** Default 3. */
  inChannels?: number;
  rng: Rng;
  /** False skips the random init (weights start at zero) for a network whose weights are loaded next. Default true. */
  initialize?: boolean;
  /** Scales every stage width (64, 128, 256, 512); default 1. */
  widthMultiplier?: number;
  /** Start the last BN scale of each residual block at 0 so every block begins as the identity (Goyal et al.). Default false. */
  zeroInitResidual?: boolean;
  /** Module name; default `resnet-${depth}`. */
  name?: string;
}

export interface ResNet extends Backbone {
  /** The output of the last stage, [N, h, w, featureDim], before pooling. */
  featureMap(x: Tensor4D, mode: ForwardMode): Tensor4D;
}

const STAGE_BLOCKS: Record<ResNetDepth, [number, number, number, number]> = {
  18: [2, 2, 2, 2],
  34: [3, 4, 6, 3],
  50: [3, 4, 6, 3],
};

interface Block {
  apply(x: Tensor4D, mode: ForwardMode): Tensor4D;
}

interface Downsample {
  conv: Conv2d;
  bn: BatchNorm;
}

function downsample(store: ParamStore, inC: number, outC: number, stride: number, rng: Rng): Downsample | undefined {
  if (stride === 1 && inC === outC) return undefined;
  // Names follow torchvision (downsample.0 = conv, downsample.1 = bn) so state dicts map one to one.
  const ds = store.child('downsample');
  return {
    conv: conv2d(ds, '0', { inChannels: inC, outChannels: outC, kernelSize: 1, stride, padding: 0 }, rng),
    bn: batchNorm(ds, '1', { numFeatures: outC }),
  };
}

function shortcut(ds: Downsample | undefined, x: Tensor4D, mode: ForwardMode): Tensor4D {
  return ds ? convBn(ds.conv, ds.bn, x, mode, 'linear') : x;
}

function basicBlock(store: ParamStore, inC: number, planes: number, stride: number, zeroInit: boolean, rng: Rng): Block {
  const conv1 = conv2d(store, 'conv1', { inChannels: inC, outChannels: planes, kernelSize: 3, stride }, rng);
  const bn1 = batchNorm(store, 'bn1', { numFeatures: planes });
  const conv2 = conv2d(store, 'conv2', { inChannels: planes, outChannels: planes, kernelSize: 3 }, rng);
  const bn2 = batchNorm(store, 'bn2', { numFeatures: planes, gammaInit: zeroInit ? 0 : 1 });
  const ds = downsample(store, inC, planes, stride, rng);
  return {
    apply: (x, mode) =>
      tf.tidy(() => {
        const h = convBn(conv1, bn1, x, mode);
        return tf.relu(tf.add(convBn(conv2, bn2, h, mode, 'linear'), shortcut(ds, x, mode)) as Tensor4D);
      }),
  };
}

/** torchvision's Bottleneck (ResNet v1.5: the stride sits on the 3x3 conv). */
function bottleneck(store: ParamStore, inC: number, planes: number, stride: number, zeroInit: boolean, rng: Rng): Block {
  const out = planes * 4;
  const conv1 = conv2d(store, 'conv1', { inChannels: inC, outChannels: planes, kernelSize: 1, padding: 0 }, rng);
  const bn1 = batchNorm(store, 'bn1', { numFeatures: planes });
  const conv2 = conv2d(store, 'conv2', { inChannels: planes, outChannels: planes, kernelSize: 3, stride }, rng);
  const bn2 = batchNorm(store, 'bn2', { numFeatures: planes });
  const conv3 = conv2d(store, 'conv3', { inChannels: planes, outChannels: out, kernelSize: 1, padding: 0 }, rng);
  const bn3 = batchNorm(store, 'bn3', { numFeatures: out, gammaInit: zeroInit ? 0 : 1 });
  const ds = downsample(store, inC, out, stride, rng);
  return {
    apply: (x, mode) =>
      tf.tidy(() => {
        let h = convBn(conv1, bn1, x, mode);
        h = convBn(conv2, bn2, h, mode);
        return tf.relu(tf.add(convBn(conv3, bn3, h, mode, 'linear'), shortcut(ds, x, mode)) as Tensor4D);
      }),
  };
}

/**
 * ResNet-18/34/50 as in torchvision, without the classifier. Variable names match torchvision's state
 * dict (conv1.weight, bn1.running_mean, layer2.0.downsample.0.weight, ...); conv weights are stored
 * HWIO, so a PyTorch [out, in, kh, kw] tensor needs a transpose to [kh, kw, in, out].
 */
export function createResNet(options: ResNetOptions): ResNet {
  const { depth, rng } = options;
  const stem = options.stem ?? 'cifar';
  const inChannels = options.inChannels ?? 3;
  const multiplier = options.widthMultiplier ?? 1;
  const zeroInit = options.zeroInitResidual ?? false;
  const name = options.name ?? `resnet-${depth}`;
  if (!(depth in STAGE_BLOCKS)) {
    throw new GenviewError('INVALID_CONFIG', `ResNet depth must be 18, 34 or 50, got ${depth}.`, { where: name });
  }
  if (!(multiplier > 0)) {
    throw new GenviewError('INVALID_CONFIG', `widthMultiplier must be positive, got ${multiplier}.`, { where: name });
  }
  const widths = [64, 128, 256, 512].map((w) => Math.max(1, Math.round(w * multiplier)));
  const store = ParamStore.root({ initialize: options.initialize });
  const stemWidth = widths[0];
  const conv1 =
    stem === 'imagenet'
      ? conv2d(store, 'conv1', { inChannels, outChannels: stemWidth, kernelSize: 7, stride: 2, padding: 3 }, rng)
      : conv2d(store, 'conv1', { inChannels, outChannels: stemWidth, kernelSize: 3, stride: 1, padding: 1 }, rng);
  const bn1 = batchNorm(store, 'bn1', { numFeatures: stemWidth });

  const makeBlock = depth === 50 ? bottleneck : basicBlock;
  const expansion = depth === 50 ? 4 : 1;
  const blocks: Block[] = [];
  let channels = stemWidth;
  STAGE_BLOCKS[depth].forEach((count, stage) => {
    for (let i = 0; i < count; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      blocks.push(makeBlock(store.child(`layer${stage + 1}.${i}`), channels, widths[stage], stride, zeroInit, rng));
      channels = widths[stage] * expansion;
    }
  });
  const state = moduleState(store, name);

  const featureMap = (x: Tensor4D, mode: ForwardMode): Tensor4D => {
    state.assertAlive();
    checkImages(x, name, inChannels);
    return tf.tidy(() => {
      let h = convBn(conv1, bn1, x, mode);
      if (stem === 'imagenet') h = maxPool(h, 3, 2, 1);
      for (const block of blocks) h = block.apply(h, mode);
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
