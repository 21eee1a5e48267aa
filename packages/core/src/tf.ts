/**
 * The one TensorFlow.js every GenView package uses. Re-exporting it from core keeps a single engine
 * and kernel registry across packages, and registers the gradient functions that tfjs-core alone
 * leaves out (without them `tf.grad` fails on most ops).
 */
import '@tensorflow/tfjs-core/dist/register_all_gradients';

export * as tf from '@tensorflow/tfjs-core';
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Scalar, Variable, Rank } from '@tensorflow/tfjs-core';
