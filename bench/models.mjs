// The benchmark models and train step, built from the library itself: @genview/backbones' small-cnn
// and resnet-18 (CIFAR stem) with its mlp-projector (512 hidden, batch norm, 128 out), @genview/losses'
// NT-Xent, and @genview/runner's Adam. So bench:train and bench:memory time the modules a user trains,
// and bench/train_step_torch.py builds the same networks in PyTorch.

import { Rng } from '@genview/core';
import { createMlpHead, createResNet, createSmallCnn } from '@genview/backbones';
import { ntXent } from '@genview/losses';
import { createOptimizer, namespacedVariables } from '@genview/runner';

/** Deterministic uniform [-0.5, 0.5) floats (Park–Miller), independent of tfjs's random ops. */
export function makeRng(seed) {
  let s = seed % 2147483647 || 1;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647 - 0.5;
  };
}

function withProjector(tf, backbone, rng, inputShape) {
  const projector = createMlpHead({ inDim: backbone.featureDim, hiddenDim: 512, outDim: 128, layers: 2, batchNorm: true, lastBatchNorm: false, rng, name: 'projector' });
  const training = { training: true };
  return {
    name: backbone.name,
    inputShape,
    modules: [backbone, projector],
    forward: (x) => tf.tidy(() => projector.apply(backbone.apply(x, training), training)),
  };
}

/** @genview/backbones' small-cnn (32-64-128-256, strides 1-2-2-2) on 28x28x1. */
export function smallCnn(tf, seed = 1) {
  const rng = new Rng(seed);
  return withProjector(tf, createSmallCnn({ inChannels: 1, rng }), rng, [28, 28, 1]);
}

/** @genview/backbones' resnet-18 with the small-image stem (3x3 conv, stride 1, no max-pool) on 32x32x3. */
export function resnet18(tf, seed = 1) {
  const rng = new Rng(seed);
  return withProjector(tf, createResNet({ depth: 18, stem: 'cifar', inChannels: 3, rng }), rng, [32, 32, 3]);
}

/**
 * The benchmark's SimCLR train step on one fixed batch: `pairs` random images per view (bench RNG, seed
 * 7), NT-Xent at temperature 0.5, Adam 1e-3, as the Trainer runs it (variableGrads, then the
 * optimizer's step over the named gradients). step() returns the loss; dispose() frees the batch and
 * the optimizer state. bench/train-step.mjs and bench/memory.mjs both train through this.
 */
export function simclrTrainStep(tf, model, pairs, seed = 7) {
  const n = 2 * pairs;
  const rng = makeRng(seed);
  const shape = [n, ...model.inputShape];
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rng() + 0.5;
  const x = tf.tensor(data, shape);
  const trainable = namespacedVariables(model.modules).filter((v) => v.trainable);
  const optimizer = createOptimizer({ name: 'adam' }, trainable);
  const varList = trainable.map((v) => v.variable);
  const step = () => {
    const { value, grads } = tf.variableGrads(() => {
      const z = model.forward(x);
      return ntXent([tf.slice(z, [0, 0], [pairs, -1]), tf.slice(z, [pairs, 0], [pairs, -1])], { temperature: 0.5 });
    }, varList);
    const byName = new Map(trainable.map((v) => [v.name, grads[v.variable.name]]));
    optimizer.step(byName, 1e-3);
    for (const g of Object.values(grads)) g.dispose();
    const loss = value.dataSync()[0];
    value.dispose();
    return loss;
  };
  const dispose = () => {
    x.dispose();
    optimizer.dispose();
  };
  return { step, images: n, dispose };
}
