import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs helper shared with the experiment scripts, without type declarations.
import { bundleExample } from '../experiments/import-example.mjs';

const examples = readdirSync(join(import.meta.dirname, '..', '..', 'examples'))
  .filter((file) => file.endsWith('.ts'))
  .map((file) => file.slice(0, -3));

// Examples are not part of any package's typecheck, so a name dropped from a curated entry point
// would only show when someone ran the example; bundling resolves every import against the sources.
describe('every example resolves against the packages’ public entry points', () => {
  it.each(examples)('%s bundles', async (name) => {
    const result = await bundleExample(name);
    expect(result.errors).toEqual([]);
  });
});
