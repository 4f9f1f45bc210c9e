// Lease metrics, registered once per registry: partitions held, live members,
// and lease changes (acquired, released, lost) by stage.
import { Counter, Gauge, type Registry } from "prom-client";

export interface LeaseMetrics {
  owned: Gauge<"group">;
  members: Gauge<"group">;
  changes: Counter<"group" | "change">;
}

const byRegistry = new WeakMap<Registry, LeaseMetrics>();

export function leaseMetrics(registry: Registry): LeaseMetrics {
  let m = byRegistry.get(registry);
  if (!m) {
    m = {
      owned: new Gauge({
        name: "costline_partitions_owned",
        help: "Partitions this instance holds a lease on",
        labelNames: ["group"],
        registers: [registry],
      }),
      members: new Gauge({
        name: "costline_lease_members",
        help: "Live instances of the stage (lease bucket members)",
        labelNames: ["group"],
        registers: [registry],
      }),
      changes: new Counter({
        name: "costline_lease_changes_total",
        help: "Partition leases acquired, released (rebalance or stop) and lost (not renewed in time, or taken)",
        labelNames: ["group", "change"],
        registers: [registry],
      }),
    };
    byRegistry.set(registry, m);
  }
  return m;
}
