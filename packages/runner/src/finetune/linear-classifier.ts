import { type Module, type Rng, type Tensor, tf } from '@genview/core';

/**
 * The classification layer put on a backbone for fine-tuning: weights drawn like PyTorch's nn.Linear
 * default (uniform ±1/√inDim), so fine-tuning starts from the same place as the reference recipes.
 */
export function linearClassifier(inDim: number, numClasses: number, rng: Rng, name = 'classifier'): Module {
  const bound = 1 / Math.sqrt(inDim);
  const variableOf = (values: Float32Array, shape: number[]) => {
    const initial = tf.tensor(values, shape, 'float32');
    const variable = tf.variable(initial, true);
    // The variable keeps its own reference to the data.
    initial.dispose();
    return variable;
  };
  const kernel = variableOf(rng.uniformArray(inDim * numClasses, -bound, bound), [inDim, numClasses]);
  const bias = variableOf(rng.uniformArray(numClasses, -bound, bound), [numClasses]);
  return {
    name,
    variables: () => [
      { name: 'kernel', variable: kernel, trainable: true, decay: true },
      { name: 'bias', variable: bias, trainable: true, decay: false },
    ],
    apply: (x: Tensor) => tf.tidy(() => tf.add(tf.matMul(x as tf.Tensor2D, kernel), bias)),
    dispose: () => {
      kernel.dispose();
      bias.dispose();
    },
  };
}
