import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { NativeAddon } from '../addon';
import { type KernelArgs, allocOutput, f32, output } from './util';

/**
 * Names of the fused training-mode batch-norm kernels whose inputs, attributes and outputs
 * @genview/core defines (BATCH_NORM_TRAINING_KERNEL and its gradient); core's batchNormTraining runs
 * them when the active backend registers them and composes tfjs ops otherwise.
 */
export const BATCH_NORM_TRAINING = 'GenviewBatchNormTraining';
export const BATCH_NORM_TRAINING_GRAD = 'GenviewBatchNormTrainingGrad';
/** The same followed by a ReLU, and its gradient (which also takes the forward output y). */
export const BATCH_NORM_RELU_TRAINING = 'GenviewBatchNormReluTraining';
export const BATCH_NORM_RELU_TRAINING_GRAD = 'GenviewBatchNormReluTrainingGrad';

function float32Inputs(args: KernelArgs, kernel: string, names: readonly string[]): Float32Array[] {
  return names.map((name) => {
    const values = f32(args.backend, args.inputs[name]);
    if (!values) throw new Error(`${kernel}: input '${name}' must be a float32 tensor, got ${args.inputs[name]?.dtype ?? 'none'}.`);
    return values;
  });
}

function geometry(x: TensorInfo, kernel: string): { rows: number; channels: number } {
  const channels = x.shape[x.shape.length - 1] ?? 0;
  if (x.shape.length < 2 || channels === 0) throw new Error(`${kernel}: expected x of shape [..., C] with C > 0, got [${x.shape.join(', ')}].`);
  const size = x.shape.reduce((a, b) => a * b, 1);
  return { rows: size / channels, channels };
}

/**
 * Forward: [y, mean, variance] in one pass for the statistics and one to write y (with `relu`, the
 * ReLU is applied in that pass). No stock kernel to fall back to.
 */
export function batchNormTrainingKernel(addon: NativeAddon, relu = false): KernelFunc {
  const kernel = relu ? BATCH_NORM_RELU_TRAINING : BATCH_NORM_TRAINING;
  return (args) => {
    const kernelArgs = args as unknown as KernelArgs;
    const [x, scale, offset] = float32Inputs(kernelArgs, kernel, ['x', 'scale', 'offset']);
    const { rows, channels } = geometry(kernelArgs.inputs.x, kernel);
    const y = allocOutput(x.length);
    const mean = new Float32Array(channels);
    const variance = new Float32Array(channels);
    addon.batchNormForward(x, scale, offset, y, mean, variance, rows, channels, Number(kernelArgs.attrs.varianceEpsilon), relu);
    const { backend } = kernelArgs;
    return [output(backend, [...kernelArgs.inputs.x.shape], y), output(backend, [channels], mean), output(backend, [channels], variance)];
  };
}

/**
 * Gradient: [dx, dScale, dOffset] in one pass for the per-channel sums and one to write dx. With
 * `relu`, the input y (the forward output) masks dy where the ReLU was off, inside those passes.
 */
export function batchNormTrainingGradKernel(addon: NativeAddon, relu = false): KernelFunc {
  const kernel = relu ? BATCH_NORM_RELU_TRAINING_GRAD : BATCH_NORM_TRAINING_GRAD;
  const names = relu ? ['dy', 'x', 'mean', 'variance', 'scale', 'y'] : ['dy', 'x', 'mean', 'variance', 'scale'];
  return (args) => {
    const kernelArgs = args as unknown as KernelArgs;
    const [dy, x, mean, variance, scale, y] = float32Inputs(kernelArgs, kernel, names);
    const { rows, channels } = geometry(kernelArgs.inputs.x, kernel);
    const dx = allocOutput(x.length);
    const dScale = new Float32Array(channels);
    const dOffset = new Float32Array(channels);
    addon.batchNormBackward(dy, x, mean, variance, scale, dx, dScale, dOffset, rows, channels, Number(kernelArgs.attrs.varianceEpsilon), y);
    const { backend } = kernelArgs;
    return [output(backend, [...kernelArgs.inputs.x.shape], dx), output(backend, [channels], dScale), output(backend, [channels], dOffset)];
  };
}
