import { fileURLToPath } from 'node:url';
import { defineProject } from 'vitest/config';
import { bundleDir } from './global-setup.ts';

const packagesDir = fileURLToPath(new URL('../../packages/', import.meta.url));

/**
 * Tests import workspace packages from their sources, so `vitest` needs no prior build;
 * the pack-and-install test covers the built artefacts.
 */
export function genviewProject(name: string, options: { testTimeout?: number } = {}) {
  return defineProject({
    resolve: {
      alias: [
        { find: /^@genview\/runner\/(queue|report)$/, replacement: `${packagesDir}runner/src/$1.ts` },
        { find: /^@tensorflow\/tfjs-core\/dist\/(.+)$/, replacement: `${bundleDir}$1.mjs` },
        {
          find: /^@genview\/(core|views|datasets|quality|losses|backbones|eval|runner|data-fashion-mnist|model-tiny-unclip|backend-native)$/,
          replacement: `${packagesDir}$1/src/index.ts`,
        },
      ],
    },
    test: {
      name,
      include: ['test/**/*.test.ts'],
      globalSetup: [fileURLToPath(new URL('./global-setup.ts', import.meta.url))],
      setupFiles: [fileURLToPath(new URL('./setup.ts', import.meta.url))],
      environment: 'node',
      testTimeout: options.testTimeout ?? 60_000,
      hookTimeout: 120_000,
      pool: 'forks',
    },
  });
}
