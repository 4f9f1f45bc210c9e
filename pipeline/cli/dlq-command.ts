// `costline dlq list|stats|retry|purge`: the dead-letter stream from the
// terminal, straight over NATS (NATS_URL, else the running stack's).
//
//   npx costline dlq stats
//   npx costline dlq list --stage enrich --reason oversized --since 2026-11-22T00:00:00Z --limit 20
//   npx costline dlq retry --reason oversized          (after raising COSTLINE_MAX_BATCH_EVENTS)
//   npx costline dlq purge --reason not_json --yes
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { connectNats } from "../nats/connect.ts";
import { findLiveStack } from "../stack/stack-file.ts";
import { dlqStats, purgeDlq, readDlq, retryDlq, type DlqFilter } from "../dlq/dlq-records.ts";
import { printJson } from "./stack-client.ts";

export interface DlqOptions {
  stage?: string;
  reason?: string;
  since?: string;
  until?: string;
  subject?: string;
  limit?: string;
  json?: boolean;
  payload?: boolean;
  yes?: boolean;
}

function filterOf(o: DlqOptions): DlqFilter {
  const date = (v: string | undefined, flag: string) => {
    if (!v) return undefined;
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new CostlineError(`${flag} must be an ISO time such as 2026-11-22T00:00:00Z, got "${v}"`);
    return d;
  };
  const limit = o.limit === undefined ? undefined : Number(o.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new CostlineError(`--limit must be a positive whole number, got "${o.limit}"`);
  return { stage: o.stage, reason: o.reason, since: date(o.since, "--since"), until: date(o.until, "--until"), subject: o.subject, limit };
}

export async function runDlq(config: Config, action: "list" | "stats" | "retry" | "purge", o: DlqOptions): Promise<void> {
  const filter = filterOf(o);
  const servers = config.nats.url ?? findLiveStack(config.stackFile)?.nats_url;
  if (!servers) throw new CostlineError(`no NATS_URL and no running stack in ${config.home}; start one with: npx costline up`);
  const nc = await connectNats({ ...config.nats, url: servers }, "costline-dlq");
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const { entries, unreadable } = await readDlq(js, jsm, action === "list" ? { ...filter, limit: filter.limit ?? 50 } : filter);
    if (action === "stats") return printJson({ ...dlqStats(entries), unreadable });
    if (action === "list") {
      for (const { seq, record } of entries) {
        const { payload_b64, ...rest } = record;
        const payload = o.payload ? Buffer.from(payload_b64, "base64").toString("utf8") : undefined;
        if (o.json) printJson({ seq, ...rest, ...(payload !== undefined ? { payload } : {}) });
        else process.stdout.write(`${seq}\t${record.failed_at}\t${record.stage}\t${record.reason}\t${record.subject}\t${record.detail.slice(0, 160)}\n`);
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
