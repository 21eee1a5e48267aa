import assembleReleasePlan from '@changesets/assemble-release-plan';
import { defaultConfig } from '@changesets/config';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module of the release tooling, without types
import { keepZeroMajorsMinor } from '../release/zero-major.mjs';

type Bump = 'major' | 'minor' | 'patch';

function workspace(manifests: Array<{ name: string; version: string; peerDependencies?: Record<string, string> }>) {
  const pkg = (packageJson: (typeof manifests)[number]) => ({ dir: `/ws/packages/${packageJson.name}`, relativeDir: `packages/${packageJson.name}`, packageJson });
  return {
    root: pkg({ name: 'root', version: '0.0.0' }),
    packages: manifests.map(pkg),
    tool: 'npm' as const,
  };
}

function changeset(id: string, releases: Record<string, Bump>) {
  return { id, summary: id, releases: Object.entries(releases).map(([name, type]) => ({ name, type })) };
}

function versions(plan: { releases: Array<{ name: string; newVersion: string }> }) {
  return Object.fromEntries(plan.releases.map((r) => [r.name, r.newVersion]));
}

// The shape of our workspace: plugin packages take the contracts package as a peer.
const packages = workspace([
  { name: 'core', version: '0.1.0' },
  { name: 'losses', version: '0.1.0', peerDependencies: { core: '^0.1.0' } },
  { name: 'runner', version: '0.1.0', peerDependencies: { core: '^0.1.0' } },
  { name: 'stable', version: '2.3.0', peerDependencies: { core: '^0.1.0' } },
]);

describe('version-packages release plan', () => {
  const plan = (changesets: ReturnType<typeof changeset>[]) =>
    // biome-ignore lint/suspicious/noExplicitAny: the fixture matches changesets' Packages shape, not its nominal type
    assembleReleasePlan(changesets, packages as any, { ...defaultConfig, changelog: false }, undefined);

  it('is needed: plain changesets takes 0.x peer dependents of a minor to 1.0.0', () => {
    expect(versions(plan([changeset('a', { core: 'minor' })]))).toMatchObject({ core: '0.2.0', losses: '1.0.0' });
  });

  it('moves 0.x peer dependents of a minor to their next minor, and leaves stable ones at their major', () => {
    const adjusted = keepZeroMajorsMinor(plan([changeset('a', { core: 'minor' }), changeset('b', { losses: 'patch' })]));
    expect(versions(adjusted)).toEqual({ core: '0.2.0', losses: '0.2.0', runner: '0.2.0', stable: '3.0.0' });
    expect(adjusted.releases.find((r: { name: string }) => r.name === 'losses').type).toBe('minor');
  });

  it('keeps a major that a changeset asks for by name', () => {
    const adjusted = keepZeroMajorsMinor(plan([changeset('a', { core: 'minor' }), changeset('b', { runner: 'major' })]));
    expect(versions(adjusted)).toMatchObject({ core: '0.2.0', losses: '0.2.0', runner: '1.0.0' });
  });

  it('leaves a plan without peer-forced majors as it is', () => {
    const original = plan([changeset('a', { losses: 'patch' })]);
    expect(keepZeroMajorsMinor(original).releases).toEqual(original.releases);
  });
});
