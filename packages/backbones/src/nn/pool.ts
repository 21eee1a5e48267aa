import { type Tensor2D, type Tensor4D, tf } from '@genview/core';

/** [N, H, W, C] → [N, C]. */
export function globalAvgPool(x: Tensor4D): Tensor2D {
  return tf.mean(x, [1, 2]) as Tensor2D;
}

/** Max pooling with symmetric zero-free padding (out-of-range cells are ignored, as PyTorch's -inf padding). */
export function maxPool(x: Tensor4D, size: number, stride: number, padding: number): Tensor4D {
  return tf.maxPool(x, size, stride, padding);
}
