import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const gradientsBundle = fileURLToPath(new URL('../../node_modules/.cache/genview/register-all-gradients.mjs', import.meta.url));

/**
 * tfjs-core ships its gradient registrations only as extensionless ESM that Node cannot load. The
 * published @genview/core bundles them (tsup); tests get the same bundle, built once per run, so no
 * test process has to transform tfjs-core itself.
 */
export default async function setup(): Promise<void> {
  mkdirSync(fileURLToPath(new URL('../../node_modules/.cache/genview/', import.meta.url)), { recursive: true });
  await build({
    entryPoints: [fileURLToPath(new URL('../../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'node',
    outfile: gradientsBundle,
    logLevel: 'error',
  });
}
