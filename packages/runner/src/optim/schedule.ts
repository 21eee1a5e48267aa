import { GenviewError, formatConfigIssues, z } from '@genview/core';

/** The learning rate to use at optimizer step `step` (0-based, counted in optimizer steps, not epochs). */
export type LrSchedule = (step: number) => number;

const lr = z.number().min(0);

/**
 * Linear warm-up then cosine decay, in the closed form solo-learn (from Lightning Bolts'
 * LinearWarmupCosineAnnealingLR) uses with per-step scheduling:
 *   s < W:  warmupStartLr + s·(baseLr − warmupStartLr) / max(1, W − 1)
 *   s ≥ W:  finalLr + ½(baseLr − finalLr)(1 + cos(π·(s − W)/(T − W)))
 * so baseLr is reached at the last warm-up step W − 1 and held at W, where the cosine starts; the
 * rate is finalLr from step T on (held there rather than rising again along the cosine).
 */
export const cosineScheduleSchema = z
  .strictObject({
    name: z.literal('cosine'),
    baseLr: lr,
    warmupSteps: z.number().int().min(0).default(0),
    totalSteps: z.number().int().min(1),
    warmupStartLr: lr.default(0),
    finalLr: lr.default(0),
  })
  .refine((c) => c.warmupSteps <= c.totalSteps, {
    message: 'warmupSteps must not exceed totalSteps',
    path: ['warmupSteps'],
  });

/** The same rate at every step. */
export const constantScheduleSchema = z.strictObject({
  name: z.literal('constant'),
  baseLr: lr,
});

/** PyTorch's MultiStepLR: baseLr · gamma^(number of milestones ≤ step). */
export const stepScheduleSchema = z.strictObject({
  name: z.literal('step'),
  baseLr: lr,
  milestones: z.array(z.number().int().min(0)).default([]),
  gamma: z.number().positive().default(0.1),
});

export const scheduleSchema = z.discriminatedUnion('name', [cosineScheduleSchema, constantScheduleSchema, stepScheduleSchema]);

export type ScheduleConfigInput = z.input<typeof scheduleSchema>;
export type ScheduleConfig = z.output<typeof scheduleSchema>;
export type CosineScheduleOptions = Omit<z.input<typeof cosineScheduleSchema>, 'name'>;
export type StepScheduleOptions = Omit<z.input<typeof stepScheduleSchema>, 'name'>;

export interface CreateScheduleOptions {
  /** Config path for error messages, e.g. "trainer.schedule". */
  path?: string;
}

/** Validates a schedule config (filling defaults) and returns the schedule. */
export function createSchedule(config: ScheduleConfigInput, options: CreateScheduleOptions = {}): LrSchedule {
  const path = options.path ?? 'schedule';
  const parsed = scheduleSchema.safeParse(config);
  if (!parsed.success) {
    throw new GenviewError('INVALID_CONFIG', `invalid learning-rate schedule:\n  ${formatConfigIssues(path, parsed.error.issues).join('\n  ')}`, {
      where: path,
      fix: "name one of 'cosine', 'constant', 'step' with its fields (baseLr, and totalSteps for cosine).",
    });
  }
  return build(parsed.data);
}

export function cosineWithWarmup(options: CosineScheduleOptions): LrSchedule {
  return createSchedule({ name: 'cosine', ...options }, { path: 'cosineWithWarmup' });
}

export function constantLr(baseLr: number): LrSchedule {
  return createSchedule({ name: 'constant', baseLr }, { path: 'constantLr' });
}

export function stepLr(options: StepScheduleOptions): LrSchedule {
  return createSchedule({ name: 'step', ...options }, { path: 'stepLr' });
}

function build(config: ScheduleConfig): LrSchedule {
  switch (config.name) {
    case 'constant':
      return (step) => {
        checkStep(step);
        return config.baseLr;
      };
    case 'step': {
      const milestones = [...config.milestones].sort((a, b) => a - b);
      return (step) => {
        checkStep(step);
        const passed = milestones.filter((m) => m <= step).length;
        return config.baseLr * config.gamma ** passed;
      };
    }
    case 'cosine': {
      const { baseLr, warmupSteps: w, totalSteps: total, warmupStartLr, finalLr } = config;
      return (step) => {
        checkStep(step);
        if (step < w) return warmupStartLr + (step * (baseLr - warmupStartLr)) / Math.max(1, w - 1);
        if (step >= total) return finalLr;
        return finalLr + 0.5 * (baseLr - finalLr) * (1 + Math.cos((Math.PI * (step - w)) / (total - w)));
      };
    }
  }
}

function checkStep(step: number): void {
  if (!Number.isFinite(step) || step < 0) {
    throw new GenviewError('BAD_INPUT', `a learning-rate schedule needs a step >= 0, got ${step}.`);
  }
}
