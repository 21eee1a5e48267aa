import { defineConfig } from 'tsup';

export default defineConfig({
  // The package entry, the opt-in subsystems (@genview/runner/queue, @genview/runner/report) and the CLI.
  entry: ['src/index.ts', 'src/queue.ts', 'src/report.ts', 'src/cli.ts'],
  format: ['esm', 'cjs'],
  dts: { entry: ['src/index.ts', 'src/queue.ts', 'src/report.ts'] },
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'node20',
});
