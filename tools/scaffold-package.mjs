#!/usr/bin/env node
// Writes the uniform parts of a package (tsup, tsconfig, vitest, package.json fields) so every
// package builds, tests and packs the same way. Usage: node tools/scaffold-package.mjs <name> "<description>"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [name, description = ''] = process.argv.slice(2);
if (!name) throw new Error('usage: scaffold-package.mjs <name> "<description>"');
const dir = join('packages', name);
mkdirSync(join(dir, 'src'), { recursive: true });
mkdirSync(join(dir, 'test'), { recursive: true });

const pkgPath = join(dir, 'package.json');
const existing = existsSync(pkgPath) ? JSON.parse(readFileSync(pkgPath, 'utf8')) : {};
const pkg = {
  name: `@genview/${name}`,
  version: existing.version ?? '0.1.0',
  description: existing.description ?? description,
  license: 'MIT',
  type: 'module',
  main: './dist/index.cjs',
  module: './dist/index.js',
  types: './dist/index.d.ts',
  exports: {
    '.': {
      import: { types: './dist/index.d.ts', default: './dist/index.js' },
      require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
    },
    './package.json': './package.json',
    ...(existing.exports ?? {}),
  },
  files: existing.files ?? ['dist', 'README.md', 'CHANGELOG.md', 'LICENSE'],
  sideEffects: false,
  scripts: {
    build: 'tsup',
    test: 'vitest run',
    typecheck: 'tsc -p tsconfig.json --noEmit',
    lint: 'biome lint src test',
    ...(existing.scripts ?? {}),
  },
  ...Object.fromEntries(
    Object.entries(existing).filter(
      ([k]) => !['name', 'version', 'description', 'license', 'type', 'main', 'module', 'types', 'exports', 'files', 'sideEffects', 'scripts'].includes(k),
    ),
  ),
  publishConfig: { access: 'public' },
};
writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);

const write = (file, text) => {
  if (!existsSync(join(dir, file))) writeFileSync(join(dir, file), text);
};
write(
  'tsup.config.ts',
  `import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'node20',
});
`,
);
write(
  'tsconfig.json',
  `{
  "extends": "../../tsconfig.base.json",
  "include": ["src", "test"]
}
`,
);
write(
  'vitest.config.ts',
  `import { genviewProject } from '../../tools/vitest/project.ts';

export default genviewProject('${name}');
`,
);
