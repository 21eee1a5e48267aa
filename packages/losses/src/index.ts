import type { AnyPlugin } from '@genview/core';
import { infoNcePlugin } from './losses/info-nce';
import { mocoQueuePlugin } from './losses/moco-queue';
import { negativeCosinePlugin } from './losses/negative-cosine';
import { ntXentPlugin } from './losses/nt-xent';

export { ntXent, ntXentPlugin, type NtXentOptions } from './losses/nt-xent';
export { infoNce, infoNcePlugin, type InfoNceOptions } from './losses/info-nce';
export { infoNceQueue, mocoQueuePlugin, type InfoNceQueueOptions } from './losses/moco-queue';
export { negativeCosine, negativeCosinePlugin, type NegativeCosineOptions } from './losses/negative-cosine';

/** Every loss in this package, for `registry.register(plugins)`. */
export const plugins: readonly AnyPlugin[] = [ntXentPlugin, infoNcePlugin, mocoQueuePlugin, negativeCosinePlugin];
