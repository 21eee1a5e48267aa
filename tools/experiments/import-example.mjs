// Loads an example (a .ts file under examples/) from the workspace sources, so an experiment runs the
// code as it stands without a build: esbuild bundles the @genview packages from src, bundles
// tfjs-core's extensionless gradient registrations, and leaves every other package external
// (data-fashion-mnist among them: it locates its data files from its own module URL).
import { mkdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export const root = fileURLToPath(new URL('../../', import.meta.url));
const workspace = /^@genview\/(core|views|datasets|quality|losses|backbones|eval|runner)$/;

/**
 * Bundles examples/<name>.ts against the workspace sources. With `outfile` unset nothing is written:
 * the bundle still fails on an import that a package's curated entry point does not export.
 */
export function bundleExample(name, outfile) {
  return build({
    entryPoints: [`${root}examples/${name}.ts`],
    write: outfile !== undefined,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile,
    logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    plugins: [
      {
        name: 'workspace-sources',
        setup(b) {
          b.onResolve({ filter: /^[@a-z]/ }, (args) => {
            const m = workspace.exec(args.path);
            if (m) return { path: `${root}packages/${m[1]}/src/index.ts` };
            if (args.path.startsWith('@tensorflow/tfjs-core/dist/')) return undefined;
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
}

/** Bundles examples/<name>.ts into the cache folder and imports it. */
export async function importExample(name) {
  const outDir = `${root}node_modules/.cache/genview/experiments/`;
  mkdirSync(outDir, { recursive: true });
  const outfile = `${outDir}${name}.mjs`;
  await bundleExample(name, outfile);
  return import(pathToFileURL(outfile).href);
}
