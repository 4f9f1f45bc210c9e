// Child process for the reaction-time phase of the benchmark: a producer's
// guard in another process. It checks the given tenants continuously and
// prints "<tenant> <epoch ms>" the first time each one is denied.
import { createGuard } from "../pipeline/guard/guard.ts";

const [servers, ...tenants] = process.argv.slice(2);
const guard = await createGuard({ servers: servers! });
await guard.ready;
process.stdout.write("ready\n");
const denied = new Set<string>();
const tick = () => {
  for (const tenant of tenants)
    if (!denied.has(tenant) && !guard.check({ tenant, model: "gpt-4o-mini" }).allow) {
      denied.add(tenant);
      process.stdout.write(`${tenant} ${Date.now()}\n`);
    }
  if (denied.size === tenants.length) void guard.close().then(() => process.exit(0));
  else setImmediate(tick);
};
tick();
