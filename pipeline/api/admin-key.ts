// The first admin key. Production sets COSTLINE_ADMIN_KEY; the embedded
// default creates one on first start and keeps it in $COSTLINE_HOME/admin.key
// (mode 0600), where the CLI on the same machine finds it.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { KeyStore } from "./api-keys.ts";

export function adminKeyFile(home: string): string {
  return path.join(home, "admin.key");
}

export async function ensureAdminKey(keys: KeyStore, home: string, fromEnv?: string): Promise<{ file?: string }> {
  if (fromEnv) {
    await keys.register(fromEnv, { role: "admin" }, "COSTLINE_ADMIN_KEY");
    return {};
  }
  const file = adminKeyFile(home);
  if (existsSync(file)) {
    const key = readFileSync(file, "utf8").trim();
    // The ledger may be new (a fresh ClickHouse) while the file is not: register it again.
    if (!(await keys.verify(key))) await keys.register(key, { role: "admin" }, "admin.key");
    return { file };
  }
  const issued = await keys.create({ role: "admin" }, "admin.key");
  writeFileSync(file, `${issued.key}\n`, { mode: 0o600 });
  return { file };
}

/** The key a CLI command presents: COSTLINE_API_KEY, else the stack's admin.key. */
export function clientKey(home: string, fromEnv?: string): string | undefined {
  if (fromEnv) return fromEnv;
  const file = adminKeyFile(home);
  return existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
}
