import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const packagesDir = join(import.meta.dirname, '..', '..', 'packages');

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

const manifests = new Map<string, Manifest>(
  readdirSync(packagesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(packagesDir, entry.name, 'package.json')))
    .map((entry) => JSON.parse(readFileSync(join(packagesDir, entry.name, 'package.json'), 'utf8')) as Manifest)
    .map((manifest) => [manifest.name, manifest]),
);

/** What an install pulls in: dependencies and the peers npm installs by itself (the non-optional ones). */
function installed(name: string, seen = new Set<string>()): Set<string> {
  const manifest = manifests.get(name);
  if (!manifest || seen.has(name)) return seen;
  seen.add(name);
  const peers = Object.keys(manifest.peerDependencies ?? {}).filter((peer) => !manifest.peerDependenciesMeta?.[peer]?.optional);
  for (const next of [...Object.keys(manifest.dependencies ?? {}), ...peers]) installed(next, seen);
  return seen;
}

const HEAVY = ['@genview/data-fashion-mnist', '@genview/model-tiny-unclip'];

describe('install weight', () => {
  it('reads every workspace package', () => {
    expect(manifests.size).toBeGreaterThanOrEqual(10);
    expect(installed('@genview/runner').has('@genview/views')).toBe(true);
  });

  it.each([...manifests.keys()].filter((name) => !HEAVY.includes(name)))('installing %s pulls no data or model package', (name) => {
    const pulled = [...installed(name)].filter((dep) => HEAVY.includes(dep));
    expect(pulled).toEqual([]);
  });

  it('the runner names the data and model packages as optional peers', () => {
    const runner = manifests.get('@genview/runner')!;
    for (const heavy of HEAVY) {
      expect(runner.peerDependencies?.[heavy]).toBeDefined();
      expect(runner.peerDependenciesMeta?.[heavy]?.optional).toBe(true);
    }
  });
});
