/**
 * "Did you mean …": the known key nearest to a mistyped one. Keys compare without case, `_` and `-`
 * (so `maxTrust` finds `max_trust`), by optimal-string-alignment distance (Levenshtein plus the
 * transposition of two adjacent letters, Damerau's common typo).
 */

function normal(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

/** Edits (insert, delete, substitute, swap two adjacent) from a to b; stops early past `limit`. */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
      best = Math.min(best, d);
    }
    if (best > limit) return limit + 1;
    before = previous;
    previous = row;
  }
  return previous[b.length]!;
}

function isSubsequence(short: string, long: string): boolean {
  let i = 0;
  for (const c of long) if (c === short[i]) i++;
  return i === short.length;
}

/**
 * The candidate nearest to `key`, or undefined when none is close: within a third of the key's
 * length (at least 2 edits), or, failing that, one that holds the key's letters in order
 * (`maxTrust` → `maxSourceTrust`).
 */
export function nearestKey(key: string, candidates: Iterable<string>): string | undefined {
  const k = normal(key);
  if (k.length === 0) return undefined;
  const limit = Math.max(2, Math.floor(k.length / 3));
  let best: { key: string; distance: number } | undefined;
  let held: { key: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const c = normal(candidate);
    const distance = editDistance(k, c);
    if (distance <= limit && (best === undefined || distance < best.distance))
      best = { key: candidate, distance };
    const contains = Math.min(k.length, c.length) >= 3 && (isSubsequence(k, c) || isSubsequence(c, k));
    if (contains && (held === undefined || distance < held.distance)) held = { key: candidate, distance };
  }
  return (best ?? held)?.key;
}
