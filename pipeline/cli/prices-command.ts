// `costline prices …` and `costline reprice`: the versioned price catalog and
// re-pricing a past period, through the running stack's API (admin key for
// writes).
//
//   npx costline prices list [--version N] [--provider P] [--model M]
//   npx costline prices show --model claude-sonnet-4-20250514 [--provider anthropic] [--at 2026-11-01T00:00:00Z]
//   npx costline prices set --provider openai --model gpt-4o-mini --from 2026-11-01 --price input_mtok=0.15 --price output_mtok=0.6 --source "https://openai.com/api/pricing"
//   npx costline prices import --file prices.json        # [{provider, model, from, prices, …}, …] or NDJSON
//   npx costline prices diff --from 1 [--to 2]
//   npx costline reconcile --file openai-costs.json [--format openai|anthropic|focus|cur] [--tenant acme] [--threshold 0.05]
//   npx costline reprice --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z [--tenant acme] [--model gpt-4o] [--dry-run | --yes]
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline/promises";
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { printJson, stackApi } from "./stack-client.ts";

const query = (o: Record<string, string | undefined>) => {
  const q = new URLSearchParams(Object.entries(o).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ""));
  return q.size ? `?${q}` : "";
};

/** "input_mtok=0.15" pairs as a price set; a tiered price is given as JSON: 'input_mtok={"base":"3","tiers":[…]}'. */
export function parsePrices(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const i = p.indexOf("=");
    if (i <= 0) throw new CostlineError(`--price "${p}": give key=value, e.g. input_mtok=2.5`);
    const value = p.slice(i + 1);
    out[p.slice(0, i)] = value.startsWith("{") ? JSON.parse(value) : value;
  }
  if (Object.keys(out).length === 0) throw new CostlineError("give at least one --price key=value");
  return out;
}

/** A JSON array, an {entries: […]} document, or NDJSON. */
export function readEntries(text: string): unknown[] {
  const t = text.trim();
  if (t.startsWith("[")) return JSON.parse(t) as unknown[];
  if (t.startsWith("{") && !t.includes("\n")) {
    const doc = JSON.parse(t) as { entries?: unknown[] };
    return doc.entries ?? [doc];
  }
  try {
    const doc = JSON.parse(t) as { entries?: unknown[] };
    if (Array.isArray(doc.entries)) return doc.entries;
  } catch {
    // not one JSON document: NDJSON
  }
  return t
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as unknown);
}

export const pricesCommand = {
  list: async (config: Config, o: { version?: string; provider?: string; model?: string; tenant?: string }) =>
    printJson(await stackApi(config, "GET", `/v1/prices${query(o)}`)),
  show: async (config: Config, o: { model: string; provider?: string; tenant?: string; at?: string }) =>
    printJson(await stackApi(config, "GET", `/v1/prices/show${query(o)}`)),
  set: async (
    config: Config,
    o: {
      provider: string;
      model: string;
      tenant?: string;
      from: string;
      to?: string;
      price: string[];
      source?: string;
      note?: string;
      layer?: string;
    },
  ) =>
    printJson(
      await stackApi(config, "POST", "/v1/prices", {
        entries: [
          {
            provider: o.provider,
            model: o.model,
            tenant: o.tenant ?? "",
            from: o.from,
            ...(o.to ? { to: o.to } : {}),
            prices: parsePrices(o.price),
            ...(o.layer ? { layer: o.layer } : {}),
            source: o.source ?? "",
            note: o.note ?? "",
          },
        ],
      }),
    ),
  import: async (config: Config, o: { file: string }) =>
    printJson(await stackApi(config, "POST", "/v1/prices", { entries: readEntries(readFileSync(o.file, "utf8")) })),
  diff: async (config: Config, o: { from: string; to?: string }) => printJson(await stackApi(config, "GET", `/v1/prices/diff${query(o)}`)),
};

export interface RepriceOptions {
  from: string;
  to: string;
  tenant?: string;
  model?: string;
  dryRun?: boolean;
  yes?: boolean;
  reason?: string;
}

export async function runReprice(config: Config, o: RepriceOptions): Promise<void> {
  const body = { from: o.from, to: o.to, tenant: o.tenant, model: o.model, reason: o.reason ?? "" };
  const preview = (await stackApi(config, "POST", "/v1/reprice", { ...body, dry_run: true })) as {
    events: number;
    changed_events: number;
    old_total_usd: string;
    new_total_usd: string;
  };
  if (o.dryRun) return printJson(preview);
  if (preview.changed_events === 0) return printJson({ ...preview, dry_run: false });
  if (!o.yes) {
    if (!process.stdin.isTTY) throw new CostlineError("re-pricing writes corrections: add --yes to confirm, or --dry-run to only look");
    process.stderr.write(
      `${preview.changed_events} of ${preview.events} events change: ${preview.old_total_usd} → ${preview.new_total_usd} USD\n`,
    );
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await rl.question("write the corrections? [y/N] ");
    rl.close();
    if (!/^y(es)?$/i.test(answer.trim())) return printJson({ ...preview, written: false });
  }
  printJson(await stackApi(config, "POST", "/v1/reprice", { ...body, dry_run: false }));
}

export async function runReconcile(
  config: Config,
  o: { file: string; format?: string; tenant?: string; threshold?: string },
): Promise<void> {
  const threshold = o.threshold === undefined ? undefined : Number(o.threshold);
  if (threshold !== undefined && !(threshold >= 0)) throw new CostlineError(`--threshold "${o.threshold}": a share such as 0.05`);
  printJson(
    await stackApi(config, "POST", "/v1/reconcile", {
      content: readFileSync(o.file, "utf8"),
      ...(o.format ? { format: o.format } : {}),
      ...(o.tenant ? { tenant: o.tenant } : {}),
      ...(threshold !== undefined ? { threshold } : {}),
    }),
  );
}
