/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/** The candidates nearest to `query`: within a third of its length in edits, or containing it. */
export function closestNames(query: string, candidates: string[], limit = 3): string[] {
  const q = query.toLowerCase();
  return candidates
    .map((name) => ({ name, d: editDistance(q, name.toLowerCase()) }))
    .filter(({ name, d }) => d <= Math.max(2, Math.ceil(q.length / 3)) || name.toLowerCase().includes(q) || q.includes(name.toLowerCase()))
    .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name))
    .slice(0, limit)
    .map(({ name }) => name);
}
