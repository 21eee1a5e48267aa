import type { RunConfig } from '../config/schema';
import { cosineWithWarmup } from '../optim';

/** The per-step learning rate a run config asks for: scaled base lr, linear warm-up, cosine or constant. */
export function learningRateFor(config: RunConfig, totalSteps: number): (step: number) => number {
  const { lr, batchSize, scaleLr } = config.trainer;
  const baseLr = scaleLr ? (lr * batchSize) / 256 : lr;
  const { warmup, finalLr, name } = config.schedule;
  const warmupSteps = Math.min(totalSteps, warmup < 1 ? Math.round(warmup * totalSteps) : Math.round(warmup));
  if (name === 'constant') return () => baseLr;
  return cosineWithWarmup({ baseLr, warmupSteps, totalSteps, finalLr });
}
