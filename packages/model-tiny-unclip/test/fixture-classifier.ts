import { Rng, tf } from '@genview/core';

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const CLASSES = 10;

interface Weights {
  conv1: tf.Variable;
  conv2: tf.Variable;
  dense1: tf.Variable;
  bias1: tf.Variable;
  dense2: tf.Variable;
  bias2: tf.Variable;
}

function heUniform(rng: Rng, shape: number[], fanIn: number): tf.Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  const bound = Math.sqrt(6 / fanIn);
  return tf.variable(tf.tensor(Float32Array.from({ length: n }, () => rng.uniform(-bound, bound)), shape));
}

function logits(w: Weights, x: tf.Tensor4D): tf.Tensor2D {
  // Strided convolutions rather than max pooling: every kernel of this net then runs natively.
  let h = tf.relu(tf.conv2d(x, w.conv1 as tf.Tensor4D, 2, 'same'));
  h = tf.relu(tf.conv2d(h, w.conv2 as tf.Tensor4D, 2, 'same'));
  const flat = tf.reshape(h, [x.shape[0], 7 * 7 * 64]) as tf.Tensor2D;
  const hidden = tf.relu(tf.add(tf.matMul(flat, w.dense1 as tf.Tensor2D), w.bias1));
  return tf.add(tf.matMul(hidden, w.dense2 as tf.Tensor2D), w.bias2) as tf.Tensor2D;
}

/**
 * Copies image `row` of `pixels` into `out` at `at`, mirrored or not and shifted by (dx, dy) pixels,
 * filling with 0 (the background).
 */
function augmentInto(pixels: Float32Array, row: number, out: Float32Array, at: number, flip: boolean, dx: number, dy: number): void {
  const src = row * PIXELS;
  for (let y = 0; y < SIDE; y++) {
    const sy = y - dy;
    for (let x = 0; x < SIDE; x++) {
      const sx0 = x - dx;
      const sx = flip ? SIDE - 1 - sx0 : sx0;
      out[at + y * SIDE + x] = sy >= 0 && sy < SIDE && sx0 >= 0 && sx0 < SIDE ? (pixels[src + sy * SIDE + sx] as number) : 0;
    }
  }
}

export interface PixelClassifier {
  /** The predicted class of each row of 784 pixels. */
  predict(rows: Float32Array): Int32Array;
  dispose(): void;
}

export interface PixelCnnOptions {
  epochs?: number;
  batchSize?: number;
  seed?: number;
}

/**
 * The fixture's supervised classifier for 28x28 grey images in [0, 1]: a CNN of two stride-2 3x3
 * convolutions (32 and 64 channels) and a 128-unit hidden layer, trained with Adam
 * on labelled images, each shown mirrored half the time and shifted by up to 2 pixels. The augmentation
 * matters for judging generated views: the generator is trained on randomly mirrored images, so a view
 * may face the other way than its source, which keeps the class but fools a classifier that only ever
 * saw Fashion-MNIST's left-facing shoes.
 */
export async function trainPixelCnn(pixels: Float32Array, labels: Int32Array, options: PixelCnnOptions = {}): Promise<PixelClassifier> {
  const epochs = options.epochs ?? 3;
  const batchSize = options.batchSize ?? 128;
  const rng = new Rng(options.seed ?? 0);
  const count = labels.length;
  const w: Weights = {
    conv1: heUniform(rng, [3, 3, 1, 32], 9),
    conv2: heUniform(rng, [3, 3, 32, 64], 9 * 32),
    dense1: heUniform(rng, [7 * 7 * 64, 128], 7 * 7 * 64),
    bias1: tf.variable(tf.zeros([128])),
    dense2: heUniform(rng, [128, CLASSES], 128),
    bias2: tf.variable(tf.zeros([CLASSES])),
  };
  const optimizer = tf.train.adam(1e-3);
  const batch = new Float32Array(batchSize * PIXELS);
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = rng.permutation(count);
      for (let first = 0; first + batchSize <= count; first += batchSize) {
        const targets = new Int32Array(batchSize);
        for (let i = 0; i < batchSize; i++) {
          const row = order[first + i] as number;
          augmentInto(pixels, row, batch, i * PIXELS, rng.float() < 0.5, rng.int(5) - 2, rng.int(5) - 2);
          targets[i] = labels[row] as number;
        }
        tf.tidy(() => {
          const x = tf.tensor4d(batch, [batchSize, SIDE, SIDE, 1]);
          const y = tf.oneHot(tf.tensor1d(targets, 'int32'), CLASSES);
          optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, logits(w, x)) as tf.Scalar);
        });
        // Let the event loop breathe between steps (vitest's worker pings).
        if ((first / batchSize) % 50 === 0) await new Promise((done) => setImmediate(done));
      }
    }
  } finally {
    optimizer.dispose();
  }
  const predict = (rows: Float32Array): Int32Array => {
    const n = rows.length / PIXELS;
    const out = new Int32Array(n);
    for (let first = 0; first < n; first += 256) {
      const size = Math.min(256, n - first);
      const labelled = tf.tidy(() => tf.argMax(logits(w, tf.tensor4d(rows.subarray(first * PIXELS, (first + size) * PIXELS), [size, SIDE, SIDE, 1])), 1));
      out.set(labelled.dataSync() as Int32Array, first);
      labelled.dispose();
    }
    return out;
  };
  return { predict, dispose: () => tf.dispose(Object.values(w)) };
}
