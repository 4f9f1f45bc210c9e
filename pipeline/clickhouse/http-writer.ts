// The writer of the embedded engine's HTTP endpoint: the user other costline
// processes present to join a `costline up` (`costline run STAGE…` with
// CLICKHOUSE_URL), allowed what a pipeline does on a ClickHouse server —
// migrations, inserts, reads. Its password is made on the first start and
// kept in $COSTLINE_HOME/clickhouse-http.json (mode 0600), so a restarted
// stack lets the same processes back in.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as z from "zod";
import { ConfigError } from "../errors.ts";

export const clickhouseWriterUser = "costline-pipeline";

const fileSchema = z.object({ user: z.string().min(1), password: z.string().min(16) });
export type HttpWriter = z.infer<typeof fileSchema>;

export const httpWriterFile = (home: string) => path.join(home, "clickhouse-http.json");

export function readHttpWriter(home: string): HttpWriter | undefined {
  const file = httpWriterFile(home);
  if (!existsSync(file)) return undefined;
  const parsed = fileSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!parsed.success) throw new ConfigError(`${file} is not a costline ClickHouse HTTP credentials file (delete it to make a new one)`);
  return parsed.data;
}

export function ensureHttpWriter(home: string): HttpWriter {
  const known = readHttpWriter(home);
  if (known) return known;
  mkdirSync(home, { recursive: true });
  const writer = { user: clickhouseWriterUser, password: randomBytes(24).toString("base64url") };
  const file = httpWriterFile(home);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(writer, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return writer;
}

/** Compares in constant time, so the password cannot be found a character at a time. */
export function isWriter(writer: HttpWriter | undefined, user: string | undefined, password: string | undefined): boolean {
  if (!writer || user !== writer.user || password === undefined) return false;
  const a = Buffer.from(password);
  const b = Buffer.from(writer.password);
  return a.length === b.length && timingSafeEqual(a, b);
}
