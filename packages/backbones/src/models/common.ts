import { type Dim, GenviewError, type ModuleVariable, type Tensor, assertShape } from '@genview/core';
import type { ParamStore } from '../nn/params';

/** Images are NHWC; checks rank, channels and (for ViT) the spatial size, naming the module on failure. */
export function checkImages(x: Tensor, where: string, inChannels: number, size?: number): void {
  const spatial: Dim = size ?? null;
  assertShape(x, [null, spatial, spatial, inChannels], 'images', where);
}

export function checkFeatures(x: Tensor, where: string, dim: number): void {
  assertShape(x, [null, dim], 'features', where);
}

/** The variables() / dispose() half of a Module, shared by every network here. */
export function moduleState(store: ParamStore, name: string) {
  let disposed = false;
  return {
    variables(): ModuleVariable[] {
      return store.variables();
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      for (const v of store.variables()) v.variable.dispose();
    },
    assertAlive(): void {
      if (disposed) throw new GenviewError('BAD_INPUT', `module "${name}" was disposed and cannot run.`, { fix: 'create a new one.' });
    },
  };
}

