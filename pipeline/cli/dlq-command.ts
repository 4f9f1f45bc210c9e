// `costline dlq list|stats|retry|purge`: the dead-letter stream from the
// terminal, straight over NATS (NATS_URL, else the running stack's from
// stack.json).
//
//   npx costline dlq stats
//   npx costline dlq list --stage enrich --reason oversized --since 2h --limit 20
//   npx costline dlq list --tenant acme --json --payload
//   npx costline dlq retry --reason oversized          (after raising COSTLINE_MAX_BATCH_EVENTS)
//   npx costline dlq purge --reason not_json --yes
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { connectNats } from "../nats/connect.ts";
import { isNarrowed, parseFilter, type DlqFilterOptions } from "../dlq/dlq-filter.ts";
import { dlqStats, purgeDlq, readDlq, retryDlq, type DlqStats } from "../dlq/dlq-records.ts";
import { printJson } from "./stack-client.ts";
import { stackNats } from "./stack-nats.ts";

export interface DlqOptions extends DlqFilterOptions {
  json?: boolean;
  payload?: boolean;
  yes?: boolean;
  all?: boolean;
}

function printStats(s: DlqStats & { unreadable: number }): void {
  const out: string[] = [
    `${s.records} records${s.records ? `, ${s.oldest} … ${s.newest}` : ""}${s.unreadable ? ` (${s.unreadable} unreadable)` : ""}`,
  ];
  const rows = Object.entries(s.by_stage).flatMap(([stage, reasons]) =>
    Object.entries(reasons).map(([reason, n]) => [stage, reason, String(n)]),
  );
  // ORDER: largest counts first, so the reason to look at is on top.
  rows.sort((a, b) => Number(b[2]) - Number(a[2]) || a[0]!.localeCompare(b[0]!));
  if (rows.length) out.push("", "stage\treason\trecords", ...rows.map((r) => r.join("\t")));
  const tenants = Object.entries(s.by_tenant);
  if (tenants.length)
    out.push(
      "",
      `tenant\trecords${s.tenants > tenants.length ? `  (top ${tenants.length} of ${s.tenants})` : ""}`,
      ...tenants.map(([t, n]) => `${t}\t${n}`),
    );
  process.stdout.write(`${out.join("\n")}\n`);
}

export async function runDlq(config: Config, action: "list" | "stats" | "retry" | "purge", o: DlqOptions): Promise<void> {
  const filter = parseFilter(o);
  if (action === "purge" && !isNarrowed(filter) && !o.all)
    throw new CostlineError("purge needs a filter (--stage, --reason, --since, --until, --tenant, --subject) or --all");
  const nc = await connectNats(stackNats(config, "operator"), "costline-dlq");
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const read = action === "list" ? { ...filter, limit: filter.limit ?? 50 } : filter;
    const { entries, unreadable } = await readDlq(js, jsm, read, config.subjects.prefix);
    if (action === "stats") {
      const stats = { ...dlqStats(entries), unreadable };
      return o.json ? printJson(stats) : printStats(stats);
    }
    if (action === "list") {
      if (!o.json && entries.length) process.stdout.write("seq\tfailed_at\tstage\treason\tsubject\tdeliveries\tdetail\n");
      for (const { seq, record } of entries) {
        const { payload_b64, ...rest } = record;
        const payload = o.payload ? Buffer.from(payload_b64, "base64").toString("utf8") : undefined;
        if (o.json) printJson({ seq, ...rest, ...(payload !== undefined ? { payload } : {}) });
        else
          process.stdout.write(
            `${seq}\t${record.failed_at}\t${record.stage}\t${record.reason}\t${record.subject}\t${record.deliveries}\t${record.detail.slice(0, 160)}\n`,
          );
      }
      return;
    }
    if (action === "retry") return printJson(await retryDlq(js, jsm, entries));
    if (!o.yes) return printJson({ would_purge: entries.length, hint: "add --yes to delete them" });
    printJson({ purged: await purgeDlq(jsm, entries) });
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}
