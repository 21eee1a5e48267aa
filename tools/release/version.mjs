#!/usr/bin/env node
// `npm run version-packages`: `changeset version` with one change of policy (zero-major.mjs): a peer's
// minor release moves a 0.x dependent to its next minor, not to 1.0.0. Writes the versions, the
// internal ranges and the CHANGELOG.md files, and deletes the consumed changesets, as changesets does.
// `--dry-run` prints the plan only.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import applyReleasePlan from '@changesets/apply-release-plan';
import assembleReleasePlan from '@changesets/assemble-release-plan';
import { read as readConfig } from '@changesets/config';
import { readPreState } from '@changesets/pre';
import readChangesets from '@changesets/read';
import { getPackages } from '@manypkg/get-packages';
import { keepZeroMajorsMinor } from './zero-major.mjs';

const dryRun = process.argv.includes('--dry-run');
const cwd = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? process.cwd();
const packages = await getPackages(cwd);
const config = await readConfig(cwd, packages);
const preState = await readPreState(cwd);
if (preState?.mode === 'pre') {
  console.error('version-packages: .changeset/pre.json is in pre mode; run `npx changeset version` for prereleases.');
  process.exit(1);
}
const changesets = await readChangesets(cwd);
if (changesets.length === 0) {
  console.error('version-packages: no changesets in .changeset/, nothing to version.');
  process.exit(0);
}
const plan = keepZeroMajorsMinor(assembleReleasePlan(changesets, packages, config, preState));
// The changelog generator is named relative to the changesets CLI (`@changesets/cli/changelog`).
const cliDir = dirname(createRequire(import.meta.url).resolve('@changesets/cli/package.json'));
for (const release of plan.releases.filter((r) => r.type !== 'none')) {
  console.log(`${release.name}: ${release.oldVersion} -> ${release.newVersion} (${release.type})`);
}
if (dryRun) process.exit(0);
const touched = await applyReleasePlan(plan, packages, config, undefined, `${cliDir}/dist`);
console.log(`${touched.length} files written; review them and commit.`);
