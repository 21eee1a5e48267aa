import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'node20',
  // tfjs-core publishes its gradient registrations only as extensionless ESM that Node cannot load,
  // so they are bundled here; they register into tfjs-core's global registry, shared with the
  // installed tfjs-core that stays external.
  noExternal: [/@tensorflow\/tfjs-core\/dist\//],
});
