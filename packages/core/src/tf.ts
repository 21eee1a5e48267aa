/**
 * The one TensorFlow.js every GenView package uses. Re-exporting it from core keeps a single engine
 * and kernel registry across packages, and registers the gradient functions that tfjs-core alone
 * leaves out (without them `tf.grad` fails on most ops).
 *
 * Order matters: tfjs-core's main entry must load first, so that it (not the copy of op code that
 * comes with the gradient registrations) creates the global engine and wires tensor methods.
 */
import * as tf from '@tensorflow/tfjs-core';
import './gradients';

export { tf };
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Scalar, Variable, Rank } from '@tensorflow/tfjs-core';
