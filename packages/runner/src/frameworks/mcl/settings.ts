import { GenviewError, z } from '@genview/core';

/** k-means after each MCL stage; the defaults are MCL upstream's (10 clusters, mini-batch, 100 iterations, tol 1e-5). */
export const mclClusteringSchema = z
  .object({
    /** Clusters per stage (K): pseudo labels multiply by K at every stage. */
    k: z.number().int().min(1).default(10),
    /** k-means restarts; the one with the lowest inertia wins. */
    nInit: z.number().int().min(1).default(1),
    maxIter: z.number().int().min(1).default(100),
    tol: z.number().nonnegative().default(1e-5),
    algorithm: z.enum(['lloyd', 'mini-batch']).default('mini-batch'),
  })
  .strict();

export type MclClustering = z.output<typeof mclClusteringSchema>;

export const MCL_CLUSTERING_DEFAULTS = { k: 10, nInit: 1, maxIter: 100, tol: 1e-5, algorithm: 'mini-batch' } as const;

/** Steps of every stage, or one number per stage. */
export const stepsPerStageSchema = z.union([z.number().int().positive(), z.array(z.number().int().positive()).nonempty()]);

export interface MclStagePlan {
  stages: number;
  stepsPerStage?: number | readonly number[];
}

/** A stage count and stepsPerStage that agree, or a GenviewError naming `<where>.stages` / `<where>.stepsPerStage`. */
export function checkStagePlan(plan: MclStagePlan, where: string): void {
  const { stages, stepsPerStage } = plan;
  if (!(Number.isInteger(stages) && stages >= 1)) {
    throw new GenviewError('INVALID_CONFIG', `${where}.stages must be a positive integer, got ${stages}.`, {
      where: `${where}.stages`,
      fix: 'give the number of stages, the first (ordinary training) included: 1 trains a single stage, MCL uses 2 or more.',
    });
  }
  if (Array.isArray(stepsPerStage) && stepsPerStage.length !== stages) {
    throw new GenviewError('INVALID_CONFIG', `${where}.stepsPerStage lists ${stepsPerStage.length} stages but ${where}.stages is ${stages}.`, {
      where: `${where}.stepsPerStage`,
      fix: `give ${stages} step counts, one number for every stage, or leave it out to split the trainer's budget evenly.`,
    });
  }
}

/**
 * Steps of each stage: stepsPerStage (one number for all, or one per stage), else the run's total
 * budget split evenly, the first `total mod S` stages taking one step more, so the stages add up to
 * the budget a single-stage run with the same trainer section trains for. `where` names the config
 * section the plan came from in errors ("framework", or the deprecated "mcl").
 */
export function mclStageSteps(plan: MclStagePlan, totalSteps: number, where = 'framework'): number[] {
  checkStagePlan(plan, where);
  const { stages, stepsPerStage } = plan;
  if (Array.isArray(stepsPerStage)) return [...stepsPerStage];
  if (typeof stepsPerStage === 'number') return Array.from({ length: stages }, () => stepsPerStage);
  if (totalSteps < stages) {
    throw new GenviewError('INVALID_CONFIG', `the training budget of ${totalSteps} steps cannot be split over ${stages} MCL stages.`, {
      where: 'trainer.steps',
      fix: `train for at least ${stages} steps in all (trainer.steps or trainer.epochs), use fewer stages, or set ${where}.stepsPerStage.`,
    });
  }
  const base = Math.floor(totalSteps / stages);
  return Array.from({ length: stages }, (_, s) => base + (s < totalSteps % stages ? 1 : 0));
}
