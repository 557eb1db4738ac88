/** Taint algebra (docs/spec.md §1, TC-06): (∪ parents' taints ∪ added) − removed, sorted. */
export function computeTaints(
  parentTaints: readonly (readonly string[])[],
  added: readonly string[] = [],
  removed: readonly string[] = [],
): string[] {
  const set = new Set<string>();
  for (const list of parentTaints) for (const t of list) set.add(t);
  for (const t of added) set.add(t);
  for (const t of removed) set.delete(t);
  return [...set].sort();
}

/** Taints of `inherited ∪ added` that `removed` actually takes away (removing an absent taint is a no-op). */
export function effectiveRemovals(
  parentTaints: readonly (readonly string[])[],
  added: readonly string[],
  removed: readonly string[],
): string[] {
  const present = new Set<string>(added);
  for (const list of parentTaints) for (const t of list) present.add(t);
  return removed.filter((t) => present.has(t));
}
