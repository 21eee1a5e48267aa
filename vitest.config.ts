import { defineConfig } from 'vitest/config';

// One vitest project per package; each package's own vitest.config.ts names it.
export default defineConfig({
  test: {
    projects: ['packages/*', 'tools'],
  },
});
