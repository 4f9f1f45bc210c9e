// A process's peak resident memory (Linux /proc VmHWM), in MiB; null where unknown.
import { readFileSync } from "node:fs";

export function peakRssMb(pid: number | null): number | null {
  if (!pid) return null;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}
