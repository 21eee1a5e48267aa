import { GenviewError, type LossInputs, type Scalar, ShapeCheck, type Tensor1D, type Tensor2D, definePlugin, tf, z } from '@genview/core';
import { checkWeights, l2Normalize, meanRowCosine, requireList, stopGradient, weightedMean } from '../common';

export interface NegativeCosineOptions {
  /** Per-pair weights [N]. */
  weights?: Tensor1D;
  /**
   * 'simsiam': −cos(p, z) per pair. 'byol': 2 − 2·cos(p, z), BYOL's normalised squared error; the two
   * differ by an affine map (×2, +2), so they share a minimiser and gradients up to a factor of 2.
   */
  form?: 'simsiam' | 'byol';
}

const WHERE = 'loss negative-cosine';

/** Weighted mean over pairs of −cos(p_i, stopgrad(z_i)) (or BYOL's 2 − 2cos). */
export function negativeCosine(p: Tensor2D, target: Tensor2D, options: NegativeCosineOptions = {}): Scalar {
  const check = new ShapeCheck(WHERE).check(p, 'p', ['N', 'D']).check(target, 'z', ['N', 'D']);
  checkWeights(check, options.weights);
  const form = options.form ?? 'simsiam';
  return tf.tidy(() => {
    const cos = tf.sum(tf.mul(l2Normalize(p), stopGradient(l2Normalize(target))), 1) as Tensor1D;
    const perPair = (form === 'byol' ? tf.sub(2, tf.mul(cos, 2)) : tf.neg(cos)) as Tensor1D;
    return weightedMean(perPair, options.weights);
  });
}

function pick(inputs: LossInputs, targetsFrom: 'targets' | 'views'): { predictions: Tensor2D[]; targets: Tensor2D[] } {
  const predictions = requireList(inputs.predictions, 'predictions', 2, WHERE, 'pass the predictor outputs of both views.');
  const source = targetsFrom === 'targets' ? inputs.targets : inputs.views;
  if (!source) {
    throw new GenviewError('BAD_INPUT', `${targetsFrom} is missing; expected the 2 target embeddings, [N, D] each.`, {
      where: WHERE,
      fix:
        targetsFrom === 'targets'
          ? 'pass the target (EMA) projections as inputs.targets, or set targetsFrom: "views" for SimSiam.'
          : 'pass the projections as inputs.views.',
    });
  }
  const targets = requireList(source, targetsFrom, 2, WHERE);
  const check = new ShapeCheck(WHERE);
  check.check(predictions[0], 'predictions[0]', ['N', 'D']).check(predictions[1], 'predictions[1]', ['N', 'D']);
  check.check(targets[0], `${targetsFrom}[0]`, ['N', 'D']).check(targets[1], `${targetsFrom}[1]`, ['N', 'D']);
  return { predictions, targets };
}

export const negativeCosinePlugin = definePlugin({
  kind: 'loss',
  name: 'negative-cosine',
  package: '@genview/losses',
  description:
    'SimSiam/BYOL negative cosine, symmetrised: D(p1, sg(z2))/2 + D(p2, sg(z1))/2 with per-pair weights. BYOL papers sum the two terms (2x this).',
  configSchema: z
    .object({
      form: z.enum(['simsiam', 'byol']).default('simsiam'),
      /** 'targets' for BYOL (EMA projections); 'views' for SimSiam, whose targets are its own projections. */
      targetsFrom: z.enum(['targets', 'views']).default('targets'),
    })
    .strict(),
  create: (config) => ({
    name: 'negative-cosine',
    requires: config.targetsFrom === 'targets' ? ['predictions', 'targets'] : ['predictions'],
    crossProcess: { kind: 'local' },
    compute: (inputs) => {
      const { predictions, targets } = pick(inputs, config.targetsFrom);
      const options = { weights: inputs.weights, form: config.form };
      return tf.tidy(
        () =>
          tf.add(
            tf.div(negativeCosine(predictions[0], targets[1], options), 2),
            tf.div(negativeCosine(predictions[1], targets[0], options), 2),
          ) as Scalar,
      );
    },
    metrics: (inputs) => {
      const { predictions, targets } = pick(inputs, config.targetsFrom);
      return { pred_cos: (meanRowCosine(predictions[0], targets[1]) + meanRowCosine(predictions[1], targets[0])) / 2 };
    },
  }),
});
