// CPU time and resident memory of the stack's processes, read from /proc, for
// the benchmarks' per-phase figures. CPU time is the stable measure on a
// shared machine, where wall-clock rates swing from run to run.
import { readFileSync, readdirSync } from "node:fs";

/** CPU seconds (user + system, all threads) a process has used so far; null where /proc has none. */
export function cpuSeconds(pid: number | null | undefined): number | null {
  if (!pid) return null;
  try {
    // The command name may hold spaces and parentheses: fields are counted after its closing ") ".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100 on Linux)
  } catch {
    return null;
  }
}

/**
 * CPU seconds by thread name (/proc/<pid>/task/<tid>/comm): the JavaScript
 * thread carries the process's name, V8's helpers and libuv's pool have their
 * own, and the embedded ClickHouse engine names its threads by job. Threads
 * that ended are missing, so the sum can be below the process's total.
 */
export function threadCpuSeconds(pid: number | null | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (!pid) return out;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/[0-9]+$/, "#");
      const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
      out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** Current resident memory (VmRSS) in MiB; null where unknown. */
export function rssMb(pid: number | null | undefined): number | null {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export interface StackPids {
  pipeline: number;
  nats: number | null;
}

export interface PhaseCpu {
  events: number;
  wall_s: number;
  cpu_s: { pipeline: number | null; nats_server: number | null };
  /** Process CPU time ÷ events of the phase, in microseconds. */
  cpu_us_per_event: { pipeline: number | null; nats_server: number | null };
  /** The pipeline process's CPU seconds by thread name, largest first (where the time went). */
  pipeline_threads_cpu_s: Record<string, number>;
}

/** Starts a CPU meter on the stack's processes; `end(events)` gives the phase's CPU and CPU per event. */
export function startCpuMeter(pids: StackPids): { end(events: number): PhaseCpu } {
  const t0 = performance.now();
  const p0 = cpuSeconds(pids.pipeline);
  const n0 = cpuSeconds(pids.nats);
  const threads0 = threadCpuSeconds(pids.pipeline);
  const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : b - a);
  const perEvent = (s: number | null, events: number) => (s === null || events <= 0 ? null : Number(((s * 1e6) / events).toFixed(1)));
  return {
    end(events) {
      const pipeline = diff(p0, cpuSeconds(pids.pipeline));
      const nats = diff(n0, cpuSeconds(pids.nats));
      return {
        events,
        wall_s: Number(((performance.now() - t0) / 1000).toFixed(2)),
        cpu_s: {
          pipeline: pipeline === null ? null : Number(pipeline.toFixed(2)),
          nats_server: nats === null ? null : Number(nats.toFixed(2)),
        },
        cpu_us_per_event: { pipeline: perEvent(pipeline, events), nats_server: perEvent(nats, events) },
        pipeline_threads_cpu_s: threadDiff(threads0, threadCpuSeconds(pids.pipeline)),
      };
    },
  };
}

function threadDiff(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const rows = [...after].map(([name, s]) => [name, s - (before.get(name) ?? 0)] as const).filter(([, s]) => s >= 0.01);
  return Object.fromEntries(rows.sort((a, b) => b[1] - a[1]).map(([name, s]) => [name, Number(s.toFixed(2))]));
}

/** Least-squares slope of y over x. */
export function slope(points: { x: number; y: number }[]): number | null {
  if (points.length < 2) return null;
  const mx = points.reduce((a, p) => a + p.x, 0) / points.length;
  const my = points.reduce((a, p) => a + p.y, 0) / points.length;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? null : num / den;
}
