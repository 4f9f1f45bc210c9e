// The partition of a tenant: a stable hash (the first 8 bytes of the MD5 of
// the tenant's UTF-8 bytes, big-endian, modulo the partition count). The
// same number comes out of ClickHouse (`partitionSql`), so a partition's
// owner can select its tenants' rows in SQL (the ledger's rollup repair).
// Every event of one tenant lands in one partition, so per-tenant state
// (windows, dedup, rollup groups) has exactly one owner.
import { createHash } from "node:crypto";

export function partitionOf(tenant: string, partitions: number): number {
  if (partitions <= 1) return 0;
  const h = createHash("md5").update(tenant, "utf8").digest().readBigUInt64BE(0);
  return Number(h % BigInt(partitions));
}

/** The same hash in ClickHouse SQL over a String column (reinterpretAs reads little-endian, hence the reverse). */
export function partitionSql(column: string, partitions: number): string {
  if (partitions <= 1) return "0";
  return `(reinterpretAsUInt64(reverse(substring(MD5(${column}), 1, 8))) % ${Math.trunc(partitions)})`;
}

/** 0 … n-1. */
export const allPartitions = (partitions: number): number[] => Array.from({ length: partitions }, (_, i) => i);
