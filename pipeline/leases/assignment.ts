// Which live member should own which partition: the members sorted by id take
// partitions round-robin, so shares differ by at most one and every member
// computes the same map from the same member list. A member excluded from a
// partition (it gave the partition up for making no progress) is passed over
// for it: the next member in the order takes it, unless every member is
// excluded, when the usual one keeps it.
export function assignPartitions(
  partitions: number,
  members: readonly string[],
  excluded: ReadonlyMap<number, ReadonlySet<string>> = new Map(),
): Map<string, number[]> {
  const sorted = [...new Set(members)].sort();
  const out = new Map<string, number[]>(sorted.map((m) => [m, []]));
  if (sorted.length === 0) return out;
  for (let p = 0; p < partitions; p++) {
    const skip = excluded.get(p);
    let owner = sorted[p % sorted.length]!;
    if (skip?.has(owner))
      for (let k = 1; k < sorted.length; k++) {
        const next = sorted[(p + k) % sorted.length]!;
        if (!skip.has(next)) {
          owner = next;
          break;
        }
      }
    out.get(owner)!.push(p);
  }
  return out;
}
