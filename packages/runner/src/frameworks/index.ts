export { simclr } from './simclr';
export { mocoV2 } from './moco-v2';
export { byol } from './byol';
export { simsiam } from './simsiam';
export * from './mcl';
export { createDecoupledFramework, decoupled, type DecoupledParts } from './decoupled';
export { clip } from './clip';
export { slip } from './slip';
export { createClipCore, type ClipCore, type ClipCoreConfig } from './clip-core';
export { LogitScale, linearProjection } from './joint-space';
export { KeyQueue } from './queue';

import type { PluginKind, PluginRef, Registry } from '@genview/core';
import type { RunConfig } from '../config/schema';
import { preflightDecoupled } from './decoupled';
import { preflightMcl } from './mcl/legacy-config';

/** Checks of bundled frameworks that need the whole run config and the registry, run by preflight before anything is built. */
export const frameworkPreflights: readonly ((config: RunConfig, registry: Registry, check: (kind: PluginKind, ref: PluginRef, path: string) => void) => void)[] = [preflightMcl, preflightDecoupled];
