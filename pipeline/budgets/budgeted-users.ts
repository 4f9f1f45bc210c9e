// Which (tenant, user) pairs have a budget, kept current from the budgets KV
// bucket's keys (`<tenant>.user.<user>.<period>`): the windower aggregates
// per-user windows for these users only.
import type { KV } from "@nats-io/kv";
import { fromKvToken } from "../nats/subjects.ts";
import type { Logger } from "../observability/log.ts";

export async function watchBudgetedUsers(kv: KV, log: Logger): Promise<(tenant: string, user: string) => boolean> {
  const keysByUser = new Map<string, Set<string>>();
  const pairOf = (key: string): string | undefined => {
    const [tenant, dim, user] = key.split(".");
    return dim === "user" && tenant && user ? `${fromKvToken(tenant)}\u0000${fromKvToken(user)}` : undefined;
  };
  const watch = await kv.watch();
  void (async () => {
    for await (const e of watch) {
      const pair = pairOf(e.key);
      if (!pair) continue;
      const keys = keysByUser.get(pair) ?? new Set<string>();
      if (e.operation === "PUT") keys.add(e.key);
      else keys.delete(e.key);
      if (keys.size) keysByUser.set(pair, keys);
      else keysByUser.delete(pair);
      log.info({ users: keysByUser.size }, "per-user windows follow the user budgets");
    }
  })();
  return (tenant, user) => keysByUser.size > 0 && keysByUser.has(`${tenant}\u0000${user}`);
}
