// Changesets bumps a package to its next major whenever one of its peers gets a minor release, so a
// minor of @genview/core would take every 0.x plugin package to 1.0.0. Under semver a 0.x package
// signals a breaking change with its minor, which is what a peer leaving the dependent's caret range
// is; this turns such forced majors back into minors. A major that a changeset asks for by name is
// left alone, so 1.0.0 stays a deliberate choice.

/** Returns a copy of `plan` whose peer-forced 0.x majors are minors (the next 0.(y+1).0). */
export function keepZeroMajorsMinor(plan) {
  const askedMajor = new Set();
  for (const changeset of plan.changesets) {
    for (const release of changeset.releases) if (release.type === 'major') askedMajor.add(release.name);
  }
  const releases = plan.releases.map((release) => {
    const zero = /^0\.(\d+)\.\d+$/.exec(release.oldVersion);
    if (release.type !== 'major' || !zero || askedMajor.has(release.name)) return release;
    return { ...release, type: 'minor', newVersion: `0.${Number(zero[1]) + 1}.0` };
  });
  return { ...plan, releases };
}
