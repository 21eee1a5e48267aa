import * as tf from '@tensorflow/tfjs-core';
import { batchNormTraining } from '../batch-norm-training';
import { Rng } from '../rng';

/** Seeded values in [-0.5, 0.5) from our Rng: the check must not depend on a backend's random ops. */
function values(count: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count }, () => rng.uniform(-0.5, 0.5));
}

/**
 * The loss and gradients of one small training step that touches what our backbones need: a strided
 * and a 'same' convolution with their input and filter gradients, training-mode batch norm, relu, a
 * spatial mean, a dense layer and softmax cross-entropy. Computed on the active backend.
 */
function trainingStepGradients(): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(values(2 * 8 * 8 * 3, 11), [2, 8, 8, 3]);
    const w1 = tf.tensor4d(values(3 * 3 * 3 * 6, 12), [3, 3, 3, 6]);
    const w2 = tf.tensor4d(values(3 * 3 * 6 * 4, 13), [3, 3, 6, 4]);
    const dense = tf.tensor2d(values(4 * 5, 14), [4, 5]);
    const gamma = tf.add(tf.tensor1d(values(6, 15)), 1) as tf.Tensor1D;
    const beta = tf.tensor1d(values(6, 16));
    const labels = tf.oneHot(tf.tensor1d([1, 3], 'int32'), 5);
    const loss = (input: tf.Tensor, a: tf.Tensor, b: tf.Tensor, d: tf.Tensor, g: tf.Tensor, o: tf.Tensor): tf.Scalar => {
      let h = tf.conv2d(input as tf.Tensor4D, a as tf.Tensor4D, 2, 'same');
      h = tf.relu(batchNormTraining(h, g, o, { varianceEpsilon: 1e-5 }));
      h = tf.relu(tf.conv2d(h, b as tf.Tensor4D, 1, 'same'));
      const logits = tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, d as tf.Tensor2D);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(loss)([x, w1, w2, dense, gamma, beta]);
    return [value, ...grads].map((t) => Float32Array.from(t.dataSync()));
  });
}

/**
 * Runs the step on `backendName` and on the reference cpu backend and returns the largest difference,
 * relative to each result's scale; leaves `backendName` active. A rung that cannot be tested where it
 * is written (a GPU one) checks itself this way before the ladder takes it.
 */
export async function gradientCheckAgainstCpu(backendName: string): Promise<number> {
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend('cpu'))) throw new Error("the reference 'cpu' backend did not start");
  const reference = trainingStepGradients();
  if (!(await tf.setBackend(backendName))) throw new Error(`tf.setBackend('${backendName}') returned false`);
  const got = trainingStepGradients();
  let worst = 0;
  for (const [i, want] of reference.entries()) {
    const have = got[i] as Float32Array;
    let scale = 1e-6;
    for (const v of want) scale = Math.max(scale, Math.abs(v));
    for (let j = 0; j < want.length; j++) {
      const d = Math.abs((have[j] as number) - (want[j] as number)) / scale;
      worst = Math.max(worst, Number.isNaN(d) ? Number.POSITIVE_INFINITY : d);
    }
  }
  return worst;
}
