import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { publicNames } from '../vitest/public-surface';

const dir = mkdtempSync(join(tmpdir(), 'genview-surface-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function entry(text: string): string {
  const file = join(dir, `entry-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(file, text);
  return file;
}

// The helper behind every package's test/public-surface.test.ts.
describe('publicNames', () => {
  it('lists re-exported, namespace and declared names, sorted, types included', () => {
    const file = entry(`
      import { hidden } from './a';
      export { b, type C, d as e } from './b';
      export * as nn from './nn';
      export const plugins = [hidden];
      export function make() {}
      export interface Options {}
      export type Alias = string;
      const notExported = 1;
    `);
    expect(publicNames(file)).toEqual(['Alias', 'C', 'Options', 'b', 'e', 'make', 'nn', 'plugins']);
  });

  it('refuses a bare export * (it would let a module\'s future internals through unseen)', () => {
    expect(() => publicNames(entry(`export * from './errors';`))).toThrow(/re-exports a whole module/);
  });
});
