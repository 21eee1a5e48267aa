import { type AnyPlugin, Registry } from '@genview/core';
import { plugins as backbonePlugins } from '@genview/backbones';
import { plugins as datasetPlugins } from '@genview/datasets';
import { plugins as evalPlugins } from '@genview/eval';
import { plugins as lossPlugins } from '@genview/losses';
import { plugins as qualityPlugins } from '@genview/quality';
import { plugins as viewPlugins } from '@genview/views';
import { byol, clip, decoupled, mcl, mocoV2, simclr, simsiam, slip } from './frameworks';

export const frameworkPlugins: readonly AnyPlugin[] = [simclr, mocoV2, byol, simsiam, decoupled, mcl, clip, slip];

/** A registry holding every plugin this repository ships; users register their own on top. */
export function createRegistry(extra: readonly AnyPlugin[] = []): Registry {
  return new Registry()
    .register(datasetPlugins as readonly AnyPlugin[])
    .register(viewPlugins as readonly AnyPlugin[])
    .register(qualityPlugins as readonly AnyPlugin[])
    .register(lossPlugins as readonly AnyPlugin[])
    .register(backbonePlugins as readonly AnyPlugin[])
    .register(evalPlugins as readonly AnyPlugin[])
    .register(frameworkPlugins)
    .register(extra);
}
