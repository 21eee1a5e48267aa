import { type ForwardMode, GenviewError, type Head, type Rng, type Tensor, type Tensor2D, tf } from '@genview/core';
import { type BatchNorm, batchNorm } from '../nn/batch-norm';
import { type Linear, linear } from '../nn/linear';
import { ParamStore } from '../nn/params';
import { checkFeatures, moduleState } from './common';

export interface MlpHeadOptions {
  inDim: number;
  hiddenDim: number;
  outDim: number;
  /** Number of linear layers, 2 or 3 (SimCLR v1 / BYOL use 2, SimCLR v2 and SimSiam 3). */
  layers: number;
  /** Batch norm after every hidden linear layer. */
  batchNorm: boolean;
  /** Batch norm (without scale and shift, as SimSiam's projector) after the last linear layer. */
  lastBatchNorm: boolean;
  rng: Rng;
  /** False skips the random init (weights start at zero) for a network whose weights are loaded next. Default true. */
  initialize?: boolean;
  /** Module name; default 'mlp-head'. */
  name?: string;
}

interface MlpLayer {
  fc: Linear;
  bn?: BatchNorm;
  relu: boolean;
}

/**
 * Projector / predictor MLP: (Linear → [BN] → ReLU) × (layers − 1) → Linear → [BN].
 * A linear layer followed by batch norm has no bias (the norm's shift makes it redundant).
 * Variables: layers.{i}.fc.{weight,bias}, layers.{i}.bn.{weight,bias,running_mean,running_var}.
 */
export function createMlpHead(options: MlpHeadOptions): Head {
  const { inDim, hiddenDim, outDim, layers: count, rng } = options;
  const name = options.name ?? 'mlp-head';
  for (const [label, v] of [['inDim', inDim], ['hiddenDim', hiddenDim], ['outDim', outDim], ['layers', count]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new GenviewError('INVALID_CONFIG', `${label} must be a positive integer, got ${v}.`, { where: name });
  }
  const store = ParamStore.root({ initialize: options.initialize });
  const layers: MlpLayer[] = [];
  for (let i = 0; i < count; i++) {
    const last = i === count - 1;
    const useBn = last ? options.lastBatchNorm : options.batchNorm;
    const layer = store.child(`layers.${i}`);
    const fc = linear(layer, 'fc', { inDim: i === 0 ? inDim : hiddenDim, outDim: last ? outDim : hiddenDim, bias: !useBn }, rng);
    const bn = useBn ? batchNorm(layer, 'bn', { numFeatures: fc.outDim, affine: !last }) : undefined;
    layers.push({ fc, bn, relu: !last });
  }
  const state = moduleState(store, name);
  return {
    name,
    inDim,
    outDim,
    variables: state.variables,
    dispose: state.dispose,
    apply(x: Tensor, mode: ForwardMode): Tensor2D {
      state.assertAlive();
      checkFeatures(x, name, inDim);
      return tf.tidy(() => {
        let h = x as Tensor2D;
        for (const layer of layers) {
          h = layer.fc.apply(h);
          if (layer.bn) h = layer.bn.apply(h, mode, layer.relu ? 'relu' : 'linear');
          else if (layer.relu) h = tf.relu(h);
        }
        return h;
      });
    },
  };
}
