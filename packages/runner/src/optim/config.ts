import { z } from '@genview/core';

/*
 * Optimizer configs, one per algorithm, discriminated on `name`. The learning rate is not here: it
 * comes from the schedule at every step. Defaults live in these schemas and nowhere else.
 */

const momentum = z.number().min(0).lt(1);
const weightDecay = z.number().min(0);
const nesterovNeedsMomentum = {
  message: 'nesterov momentum needs momentum > 0 (as in PyTorch); set momentum or turn nesterov off',
  path: ['nesterov'],
};

export const sgdConfigSchema = z
  .strictObject({
    name: z.literal('sgd'),
    momentum: momentum.default(0.9),
    nesterov: z.boolean().default(false),
    weightDecay: weightDecay.default(0),
  })
  .refine((c) => !c.nesterov || c.momentum > 0, nesterovNeedsMomentum);

export const larsConfigSchema = z
  .strictObject({
    name: z.literal('lars'),
    momentum: momentum.default(0.9),
    nesterov: z.boolean().default(false),
    weightDecay: weightDecay.default(1e-6),
    /** Trust coefficient; solo-learn's configs use 0.02 where the LARS paper used 0.001. */
    eta: z.number().positive().default(0.02),
    /** Keeps the trust-ratio denominator away from zero. */
    eps: z.number().min(0).default(1e-8),
    /** LARC-style clipping: the adaptive factor becomes min(trust / lr, 1), so the step never exceeds lr. */
    clipLr: z.boolean().default(false),
    /** Variables with decay=false (biases, norm parameters) skip the trust ratio too, as in SimCLR and BYOL. */
    excludeFromAdaptation: z.boolean().default(true),
  })
  .refine((c) => !c.nesterov || c.momentum > 0, nesterovNeedsMomentum);

const adamFields = {
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  eps: z.number().positive().default(1e-8),
};

/** Adam with decoupled weight decay (PyTorch's AdamW): w ← w·(1 − lr·wd) before the Adam step. */
export const adamwConfigSchema = z.strictObject({
  name: z.literal('adamw'),
  ...adamFields,
  weightDecay: weightDecay.default(0.01),
});

/** Plain Adam: a weight decay, if any, is an L2 term added to the gradient (PyTorch's Adam). */
export const adamConfigSchema = z.strictObject({
  name: z.literal('adam'),
  ...adamFields,
  weightDecay: weightDecay.default(0),
});

export const optimizerConfigSchema = z.discriminatedUnion('name', [sgdConfigSchema, larsConfigSchema, adamwConfigSchema, adamConfigSchema]);

/** What a user writes (defaults optional). */
export type OptimizerConfigInput = z.input<typeof optimizerConfigSchema>;
/** After validation, every field filled. */
export type OptimizerConfig = z.output<typeof optimizerConfigSchema>;
export type SgdConfig = z.output<typeof sgdConfigSchema>;
export type LarsConfig = z.output<typeof larsConfigSchema>;
export type AdamwConfig = z.output<typeof adamwConfigSchema>;
export type AdamConfig = z.output<typeof adamConfigSchema>;

export const OPTIMIZER_NAMES = ['sgd', 'lars', 'adamw', 'adam'] as const;
