// $COSTLINE_HOME/stack.json: how other commands find a running `costline up`.
// Mode 0600: with the embedded NATS it names the all-tenants producer's password.
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as z from "zod";
import { isAlive, processCommandLine } from "./processes.ts";

export const stackInfoSchema = z.object({
  pid: z.number().int(),
  nats_url: z.string(),
  /** A producer allowed to publish to every tenant's events subject (embedded NATS only). */
  nats_user: z.string().optional(),
  nats_password: z.string().optional(),
  api_url: z.string(),
  nats_pid: z.number().int().nullable(),
  clickhouse: z.string(),
  /** The embedded engine over ClickHouse's HTTP interface (COSTLINE_CLICKHOUSE_HTTP_PORT). */
  clickhouse_url: z.string().optional(),
  started_at: z.string(),
  /** The process's name in the partition leases: a restart after a crash takes its leases over at once. */
  instance_id: z.string().optional(),
});
export type StackInfo = z.infer<typeof stackInfoSchema>;

export function readStackFile(file: string): StackInfo | undefined {
  try {
    return stackInfoSchema.parse(JSON.parse(readFileSync(file, "utf8")));
  } catch {
    return undefined;
  }
}

/** The stack recorded in stack.json, if its process is still alive (a stale file is ignored). */
export function findLiveStack(file: string): StackInfo | undefined {
  const info = readStackFile(file);
  if (!info || info.pid === process.pid || !isAlive(info.pid)) return undefined;
  const cmd = processCommandLine(info.pid);
  // A recycled pid belonging to something else is not our stack.
  if (cmd && !/costline|node|tsx/.test(cmd)) return undefined;
  return info;
}

export function writeStackFile(file: string, info: StackInfo): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export function removeStackFile(file: string, pid = process.pid): void {
  if (readStackFile(file)?.pid === pid) rmSync(file, { force: true });
}
