import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const bundleDir = fileURLToPath(new URL('../../node_modules/.cache/genview/tfjs-core/', import.meta.url));
/** The deep tfjs-core modules @genview/core imports for their side effects. */
const entries = ['register_all_gradients', 'public/chained_ops/register_all_chained_ops'];

/**
 * tfjs-core ships its gradient and chained-op registrations only as extensionless ESM that Node
 * cannot load. The published @genview/core bundles them (tsup); tests get the same bundles, built
 * once per run, so no test process has to transform tfjs-core itself.
 */
export default async function setup(): Promise<void> {
  mkdirSync(bundleDir, { recursive: true });
  for (const entry of entries) {
    await build({
      entryPoints: [fileURLToPath(new URL(`../../node_modules/@tensorflow/tfjs-core/dist/${entry}.js`, import.meta.url))],
      bundle: true,
      format: 'esm',
      platform: 'node',
      outfile: `${bundleDir}${entry}.mjs`,
      logLevel: 'error',
    });
  }
}
