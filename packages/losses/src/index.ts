import type { AnyPlugin } from '@genview/core';
import { clipPlugin } from './losses/clip';
import { infoNcePlugin } from './losses/info-nce';
import { mocoQueuePlugin } from './losses/moco-queue';
import { negativeCosinePlugin } from './losses/negative-cosine';
import { ntXentPlugin } from './losses/nt-xent';
import { decoupledUniformityPlugin } from './losses/decoupled-uniformity';
import { attributeKernelPlugin } from './kernels/attributes';
import { cosineKernelPlugin } from './kernels/cosine';
import { rbfKernelPlugin } from './kernels/rbf';

export { ntXent, ntXentPlugin, type NtXentOptions } from './losses/nt-xent';
export { infoNce, infoNcePlugin, type InfoNceOptions } from './losses/info-nce';
export { clipLoss, clipPlugin, type ClipLossOptions } from './losses/clip';
export { infoNceQueue, mocoQueuePlugin, type InfoNceQueueOptions } from './losses/moco-queue';
export { negativeCosine, negativeCosinePlugin, type NegativeCosineOptions } from './losses/negative-cosine';
export { decoupledUniformity, decoupledUniformityPlugin, type DecoupledUniformityOptions } from './losses/decoupled-uniformity';
export { rbfKernel, rbfKernelPlugin } from './kernels/rbf';
export { cosineKernel, cosineKernelPlugin } from './kernels/cosine';
export { attributeKernel, attributeKernelPlugin, type AttributeKernelOptions } from './kernels/attributes';

/** Every prior kernel in this package (kind 'kernel'). */
export const kernelPlugins: readonly AnyPlugin[] = [rbfKernelPlugin, cosineKernelPlugin, attributeKernelPlugin];

/** Every loss and prior kernel in this package, for `registry.register(plugins)`. */
export const plugins: readonly AnyPlugin[] = [
  ntXentPlugin,
  infoNcePlugin,
  clipPlugin,
  mocoQueuePlugin,
  negativeCosinePlugin,
  decoupledUniformityPlugin,
  ...kernelPlugins,
];
