import { type ForwardMode, GenviewError, type Tensor, type Variable, batchNormTraining, tf } from '@genview/core';
import { constantInit } from './init';
import type { ParamStore } from './params';

export interface BatchNormOptions {
  numFeatures: number;
  /** Weight of the new batch statistic in the running average (PyTorch convention: 0.1). */
  momentum?: number;
  eps?: number;
  /** Learnable scale and shift; SimSiam's last projector norm goes without. Default true. */
  affine?: boolean;
  /** Initial scale; 0 for the "zero-init residual" trick. Default 1. */
  gammaInit?: number;
}

export interface BatchNorm {
  readonly gamma?: Variable;
  readonly beta?: Variable;
  readonly runningMean: Variable;
  readonly runningVar: Variable;
  /**
   * Normalises over every axis but the last (channels): NHWC maps and [N, D] features alike. With
   * activation 'relu' a ReLU follows, fused into the training-mode kernels where the backend has them.
   */
  apply<T extends Tensor>(x: T, mode: ForwardMode, activation?: 'linear' | 'relu'): T;
  /** Eval mode as y = x·scale + shift per channel ([C] each): what folding into a convolution needs. */
  evalScaleShift(): { scale: Tensor; shift: Tensor };
}

/**
 * Batch normalisation with PyTorch semantics: training mode normalises with the biased batch variance
 * and updates the running mean/variance (unbiased) with momentum 0.1; eval mode uses the running
 * statistics. Names: weight, bias, running_mean, running_var (as in PyTorch state dicts).
 */
export function batchNorm(store: ParamStore, name: string, options: BatchNormOptions): BatchNorm {
  const { numFeatures } = options;
  const momentum = options.momentum ?? 0.1;
  const eps = options.eps ?? 1e-5;
  const layer = store.child(name);
  const affine = options.affine ?? true;
  const gamma = affine ? layer.add('weight', [numFeatures], constantInit(numFeatures, options.gammaInit ?? 1), { decay: false }) : undefined;
  const beta = affine ? layer.add('bias', [numFeatures], constantInit(numFeatures, 0), { decay: false }) : undefined;
  const runningMean = layer.add('running_mean', [numFeatures], constantInit(numFeatures, 0), { trainable: false });
  const runningVar = layer.add('running_var', [numFeatures], constantInit(numFeatures, 1), { trainable: false });
  const where = layer.qualify('').replace(/\.$/, '');

  const scaleShift = (mean: Tensor, variance: Tensor): { scale: Tensor; shift: Tensor } => {
    let scale = tf.rsqrt(tf.add(variance, eps));
    if (gamma) scale = tf.mul(scale, gamma);
    let shift = tf.neg(tf.mul(mean, scale));
    if (beta) shift = tf.add(shift, beta);
    return { scale, shift };
  };
  const ones = () => tf.ones([numFeatures]) as tf.Tensor1D;
  const zeros = () => tf.zeros([numFeatures]) as tf.Tensor1D;
  const normalise = (x: Tensor, mean: Tensor, variance: Tensor): Tensor => {
    // Folding gamma into one per-channel scale and shift keeps the full-size work to one mul and one add.
    const { scale, shift } = scaleShift(mean, variance);
    return tf.add(tf.mul(x, scale), shift);
  };

  return {
    gamma,
    beta,
    runningMean,
    runningVar,
    evalScaleShift: () => tf.tidy(() => scaleShift(runningMean, runningVar)),
    apply<T extends Tensor>(x: T, mode: ForwardMode, activation: 'linear' | 'relu' = 'linear'): T {
      const channels = x.shape[x.rank - 1];
      if (x.rank < 2 || channels !== numFeatures) {
        throw new GenviewError('BAD_SHAPE', `batch norm expects [..., ${numFeatures}] input, got [${x.shape.join(', ')}].`, { where });
      }
      return tf.tidy(() => {
        if (!mode.training) {
          const y = normalise(x, runningMean, runningVar);
          return (activation === 'relu' ? tf.relu(y) : y) as T;
        }
        const count = x.size / channels;
        if (count < 2) {
          throw new GenviewError('BAD_SHAPE', `batch norm in training mode needs more than one value per channel, got input [${x.shape.join(', ')}].`, {
            where,
            fix: 'train with a batch of at least 2, or run the module in eval mode.',
          });
        }
        // The fused op's gradient accounts for the batch statistics' dependence on x in closed form; the
        // running-statistics update sees them detached, as a side effect no gradient flows through.
        return batchNormTraining(x, gamma ?? ones(), beta ?? zeros(), {
          varianceEpsilon: eps,
          activation,
          onStatistics: (mean, variance) =>
            tf.tidy(() => {
              const unbiased = tf.mul(variance, count / (count - 1));
              runningMean.assign(tf.add(tf.mul(runningMean, 1 - momentum), tf.mul(mean, momentum)));
              runningVar.assign(tf.add(tf.mul(runningVar, 1 - momentum), tf.mul(unbiased, momentum)));
            }),
        });
      });
    },
  };
}
