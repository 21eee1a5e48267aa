import { migrateMclSection } from '../frameworks/mcl/legacy-config';
import type { RunConfig } from './schema';

/**
 * A run config in its current form, with a sentence per deprecated form it was given in (for the
 * caller to log as a warning). Pure and idempotent, so every entry point (train, eval, preflight, a
 * saved run's config) applies it; the config's hash is taken before, so old runs resume without a
 * "config differs" warning.
 */
export function migrateRunConfig(config: RunConfig): { config: RunConfig; deprecations: string[] } {
  return migrateMclSection(config);
}
