// Benchmark models in plain TensorFlow.js ops (conv2d, relu, matMul) and @genview/core's training-mode
// batch norm (the op @genview/backbones uses: one fused kernel each way where the backend has it, stock
// ops otherwise), so any backend that has the stock kernels can run them. bench/train_step_torch.py builds the same models.

import { batchNormTraining } from '@genview/core';

/** Deterministic uniform [-0.5, 0.5) floats (Park–Miller), independent of tfjs's random ops. */
export function makeRng(seed) {
  let s = seed % 2147483647 || 1;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647 - 0.5;
  };
}

/** He-style init from the bench RNG: uniform with the variance of N(0, 2 / fanIn). */
function heUniform(tf, rng, shape, fanIn) {
  const n = shape.reduce((a, b) => a * b, 1);
  const scale = Math.sqrt(2 / fanIn) * Math.sqrt(12);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = rng() * scale;
  return tf.variable(tf.tensor(values, shape));
}

// PyTorch's padding=1 on every side. tf's 'same' pads a stride-2 3x3 conv 0 top-left / 1 bottom-right
// on even sizes; explicit pads keep the tfjs and PyTorch models identical.
const PAD1 = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];

function convParam(tf, rng, k, cin, cout) {
  return heUniform(tf, rng, [k, k, cin, cout], k * k * cin);
}

function bnParams(tf, c) {
  return { gamma: tf.variable(tf.ones([c])), beta: tf.variable(tf.zeros([c])) };
}

/** Training-mode batch norm over every axis but the last. */
export function batchNorm(_tf, x, p, eps = 1e-5) {
  return batchNormTraining(x, p.gamma, p.beta, { varianceEpsilon: eps });
}

function dense(tf, x, p) {
  return tf.add(tf.matMul(x, p.w), p.b);
}

function denseParams(tf, rng, cin, cout) {
  return { w: heUniform(tf, rng, [cin, cout], cin), b: tf.variable(tf.zeros([cout])) };
}

function projector(tf, rng, dims) {
  return { l1: denseParams(tf, rng, dims[0], dims[1]), l2: denseParams(tf, rng, dims[1], dims[2]) };
}

function project(tf, h, p) {
  return dense(tf, tf.relu(dense(tf, h, p.l1)), p.l2);
}

/** Small CNN: 4 x (3x3 conv, BN, ReLU) with 32-64-128-256 channels, strides 1-2-2-2, global mean pool. */
export function smallCnn(tf, seed = 1) {
  const rng = makeRng(seed);
  const widths = [32, 64, 128, 256];
  const strides = [1, 2, 2, 2];
  let cin = 1;
  const layers = widths.map((c, i) => {
    const layer = { w: convParam(tf, rng, 3, cin, c), bn: bnParams(tf, c), stride: strides[i] };
    cin = c;
    return layer;
  });
  const head = projector(tf, rng, [256, 512, 128]);
  const forward = (x) => {
    let h = x;
    for (const l of layers) h = tf.relu(batchNorm(tf, tf.conv2d(h, l.w, l.stride, PAD1), l.bn));
    return project(tf, tf.mean(h, [1, 2]), head);
  };
  return { name: 'small-cnn', forward, inputShape: [28, 28, 1] };
}

/** ResNet-18 with the small-image stem (3x3 conv, stride 1, no max-pool), projector 512-512-128. */
export function resnet18(tf, seed = 1) {
  const rng = makeRng(seed);
  const stem = { w: convParam(tf, rng, 3, 3, 64), bn: bnParams(tf, 64) };
  const blocks = [];
  let cin = 64;
  for (const [c, stride] of [
    [64, 1],
    [128, 2],
    [256, 2],
    [512, 2],
  ]) {
    for (let b = 0; b < 2; b++) {
      const s = b === 0 ? stride : 1;
      const block = {
        stride: s,
        w1: convParam(tf, rng, 3, cin, c),
        bn1: bnParams(tf, c),
        w2: convParam(tf, rng, 3, c, c),
        bn2: bnParams(tf, c),
      };
      if (s !== 1 || cin !== c) {
        block.down = { w: convParam(tf, rng, 1, cin, c), bn: bnParams(tf, c) };
      }
      blocks.push(block);
      cin = c;
    }
  }
  const head = projector(tf, rng, [512, 512, 128]);
  const forward = (x) => {
    let h = tf.relu(batchNorm(tf, tf.conv2d(x, stem.w, 1, PAD1), stem.bn));
    for (const b of blocks) {
      const y = tf.relu(batchNorm(tf, tf.conv2d(h, b.w1, b.stride, PAD1), b.bn1));
      const z = batchNorm(tf, tf.conv2d(y, b.w2, 1, PAD1), b.bn2);
      const shortcut = b.down ? batchNorm(tf, tf.conv2d(h, b.down.w, b.stride, 'valid'), b.down.bn) : h;
      h = tf.relu(tf.add(z, shortcut));
    }
    return project(tf, tf.mean(h, [1, 2]), head);
  };
  return { name: 'resnet18', forward, inputShape: [32, 32, 3] };
}

/** NT-Xent (SimCLR) over z = [view1; view2], each half `pairs` rows. */
export function ntXent(tf, z, pairs, temperature = 0.5) {
  const n = 2 * pairs;
  const zn = tf.div(z, tf.sqrt(tf.add(tf.sum(tf.square(z), 1, true), 1e-12)));
  const logits = tf.div(tf.matMul(zn, zn, false, true), temperature);
  // Exclude self-similarity from the softmax with a large negative on the diagonal.
  const masked = tf.sub(logits, tf.mul(tf.eye(n), 1e9));
  const partner = tf.concat([tf.slice(zn, [pairs, 0], [pairs, -1]), tf.slice(zn, [0, 0], [pairs, -1])], 0);
  const positive = tf.div(tf.sum(tf.mul(zn, partner), 1), temperature);
  return tf.mean(tf.sub(tf.logSumExp(masked, 1), positive));
}

/**
 * The benchmark's SimCLR train step on one fixed batch: `pairs` random images per view (bench RNG, seed
 * 7), NT-Xent at temperature 0.5, Adam 1e-3. step() runs forward + backward + update and returns the
 * loss; dispose() frees the batch and the optimiser state (the model's variables stay with the model).
 * bench/train-step.mjs and bench/memory.mjs both train through this.
 */
export function simclrTrainStep(tf, model, pairs, seed = 7) {
  const n = 2 * pairs;
  const rng = makeRng(seed);
  const shape = [n, ...model.inputShape];
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rng() + 0.5;
  const x = tf.tensor(data, shape);
  const optimizer = tf.train.adam(1e-3);
  const step = () => {
    const cost = optimizer.minimize(() => ntXent(tf, model.forward(x), pairs, 0.5), true);
    const loss = cost.dataSync()[0];
    cost.dispose();
    return loss;
  };
  const dispose = () => {
    x.dispose();
    optimizer.dispose();
  };
  return { step, images: n, dispose };
}
