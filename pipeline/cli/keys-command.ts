// `costline keys create --tenant T | --admin`, `costline keys list`,
// `costline keys revoke ID`: API keys, through the running stack's API (with
// the admin key) or straight in ClickHouse when no stack runs. With --nats:
// NATS producer users instead (nats-keys-command.ts).
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { createKeyStore } from "../api/api-keys.ts";
import { migrate } from "../clickhouse/migrate.ts";
import { apiCall, ledgerAccess } from "./stack-client.ts";
import { runNatsKeys } from "./nats-keys-command.ts";

type Action = ({ kind: "create"; tenant?: string; admin?: boolean; name?: string } | { kind: "list" } | { kind: "revoke"; id: string }) & {
  nats?: boolean;
};

export async function runKeys(config: Config, action: Action): Promise<void> {
  if (action.nats) {
    if (action.kind === "create" && (!action.tenant || action.admin))
      throw new CostlineError("--nats issues a producer's user: give --tenant T (not --admin)");
    return runNatsKeys(
      config,
      action.kind === "create"
        ? { kind: "create", tenant: action.tenant! }
        : action.kind === "revoke"
          ? { kind: "revoke", user: action.id }
          : { kind: "list" },
    );
  }
  if (action.kind === "create" && !action.tenant === !action.admin) throw new CostlineError("give exactly one of --tenant T or --admin");
  const access = await ledgerAccess(config);
  let out: unknown;
  if (access.kind === "api") {
    const base = `${access.url}/v1/admin/keys`;
    const res =
      action.kind === "create"
        ? await apiCall(config, base, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(action.admin ? { role: "admin", name: action.name } : { tenant: action.tenant, name: action.name }),
          })
        : action.kind === "list"
          ? await apiCall(config, base)
          : await apiCall(config, `${base}/${encodeURIComponent(action.id)}`, { method: "DELETE" });
    out = await res.json();
    if (!res.ok) throw new CostlineError((out as { error?: string }).error ?? `HTTP ${res.status}`);
  } else {
    try {
      await migrate(access.db.client, { cluster: config.clickhouse.cluster });
      const keys = createKeyStore(access.db.client);
      if (action.kind === "create")
        out = await keys.create(action.admin ? { role: "admin" } : { role: "tenant", tenant: action.tenant! }, action.name ?? "");
      else if (action.kind === "list") out = { keys: await keys.list() };
      else if (await keys.revoke(action.id)) out = { revoked: action.id };
      else throw new CostlineError(`no key ${action.id}`);
    } finally {
      await access.db.close();
    }
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
