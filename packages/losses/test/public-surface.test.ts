import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { publicNames } from '../../../tools/vitest/public-surface';

// The published API of this package, pinned. A failure here means an export was added or removed: if
// that is deliberate, document the name in the README, update this list and add a changeset; if not,
// import the internal from its module path instead of exporting it.

/** @genview/losses, sorted. */
const ROOT = [
  'AttributeKernelOptions',
  'ClipLossOptions',
  'DecoupledUniformityOptions',
  'InfoNceOptions',
  'InfoNceQueueOptions',
  'NegativeCosineOptions',
  'NtXentOptions',
  'attributeKernel',
  'attributeKernelPlugin',
  'clipLoss',
  'clipPlugin',
  'cosineKernel',
  'cosineKernelPlugin',
  'decoupledUniformity',
  'decoupledUniformityPlugin',
  'infoNce',
  'infoNcePlugin',
  'infoNceQueue',
  'kernelPlugins',
  'mocoQueuePlugin',
  'negativeCosine',
  'negativeCosinePlugin',
  'ntXent',
  'ntXentPlugin',
  'plugins',
  'rbfKernel',
  'rbfKernelPlugin',
];

describe('public surface', () => {
  it('@genview/losses exports exactly the pinned names', async () => {
    const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));
    expect(publicNames(entry)).toEqual(ROOT);
    // Every value the module really exports is a pinned name (types vanish at run time).
    const runtime = Object.keys(await import('../src/index'));
    expect(runtime.filter((name) => !ROOT.includes(name))).toEqual([]);
  });
});
