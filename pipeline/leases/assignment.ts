// Which live member should own which partition: the members sorted by id take
// partitions round-robin, so shares differ by at most one and every member
// computes the same map from the same member list.
export function assignPartitions(partitions: number, members: readonly string[]): Map<string, number[]> {
  const sorted = [...new Set(members)].sort();
  const out = new Map<string, number[]>(sorted.map((m) => [m, []]));
  if (sorted.length === 0) return out;
  for (let p = 0; p < partitions; p++) out.get(sorted[p % sorted.length]!)!.push(p);
  return out;
}
