// The versioned price catalog in ClickHouse (costline.price_catalog). Rows
// are appended, never changed: each `set` or `import` is one new version, and
// the catalog at version N is, per (layer, provider, model, tenant, from), the
// row of the highest version ≤ N (a retired row removes its key). The layers
// below it — the bundled genai-prices snapshot and the shipped overlay — are
// named by their own versions in the catalog version string.
import type { ClickHouseClient } from "@clickhouse/client";
import * as z from "zod";
import { insertIdempotent, queryRows } from "../clickhouse/client.ts";
import { chTime } from "../ledger/ledger-row.ts";
import { libraryPriceSource } from "../pricing/llm-price.ts";
import { shippedOverlay } from "../pricing/price-overlay.ts";
import { priceSetSchema } from "../pricing/pricing-config.ts";

const instant = z
  .string()
  .refine((v) => /^\d{4}-\d{2}-\d{2}(T.*)?$/.test(v) && !Number.isNaN(Date.parse(v)), "an ISO date or time")
  .transform((v) => new Date(/T/.test(v) ? v : `${v}T00:00:00Z`));

/** One price as a user sets or imports it (decimal strings, genai-prices keys). */
export const catalogEntryInput = z.object({
  /** tenant: a tenant's negotiated price; deployment: this deployment's own price for everyone; overlay: a correction. */
  layer: z.enum(["tenant", "deployment", "overlay"]).optional(),
  provider: z
    .string()
    .min(1)
    .max(256)
    .transform((s) => s.toLowerCase()),
  model: z
    .string()
    .min(1)
    .max(256)
    .transform((s) => s.toLowerCase()),
  tenant: z.string().max(256).default(""),
  from: instant,
  to: instant.optional(),
  prices: priceSetSchema,
  retired: z.boolean().default(false),
  source: z.string().max(2000).default(""),
  note: z.string().max(2000).default(""),
});
export type CatalogEntryInput = z.infer<typeof catalogEntryInput>;

export interface CatalogEntry {
  version: number;
  layer: string;
  provider: string;
  model: string;
  tenant: string;
  from: Date;
  to?: Date;
  prices: Record<string, unknown>;
  retired: boolean;
  source: string;
  note: string;
  created_at: string;
  created_by: string;
}

interface Row {
  version: string | number;
  layer: string;
  provider: string;
  model: string;
  tenant: string;
  effective_from: string;
  effective_to: string | null;
  prices: string;
  retired: boolean | number;
  source: string;
  note: string;
  created_at: string;
  created_by: string;
}

const fromCh = (t: string) => new Date(`${t.replace(" ", "T")}Z`);

function entryOf(r: Row): CatalogEntry {
  return {
    version: Number(r.version),
    layer: r.layer,
    provider: r.provider,
    model: r.model,
    tenant: r.tenant,
    from: fromCh(r.effective_from),
    ...(r.effective_to ? { to: fromCh(r.effective_to) } : {}),
    prices: JSON.parse(r.prices) as Record<string, unknown>,
    retired: Boolean(r.retired),
    source: r.source,
    note: r.note,
    created_at: r.created_at,
    created_by: r.created_by,
  };
}

const keyOf = (e: Pick<CatalogEntry, "layer" | "provider" | "model" | "tenant" | "from">) =>
  [e.layer, e.provider, e.model, e.tenant, e.from.toISOString()].join("\u0000");

/** The catalog at a version: the newest row per key, retired keys dropped. */
export function collapse(rows: readonly CatalogEntry[], version = Infinity): CatalogEntry[] {
  const newest = new Map<string, CatalogEntry>();
  for (const r of rows) {
    if (r.version > version) continue;
    const k = keyOf(r);
    const seen = newest.get(k);
    if (!seen || r.version > seen.version) newest.set(k, r);
  }
  return [...newest.values()].filter((r) => !r.retired);
}

/** The string each ledger row records: catalog rows, shipped overlay and bundled library it was priced with. */
export function catalogVersionString(version: number): string {
  return `v${version}+overlay@${shippedOverlay().version}+genai-prices@${libraryPriceSource.version}`;
}

export interface DiffLine {
  change: "added" | "removed" | "changed";
  layer: string;
  provider: string;
  model: string;
  tenant: string;
  from: string;
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
}

export function diffCatalogs(a: readonly CatalogEntry[], b: readonly CatalogEntry[]): DiffLine[] {
  const ma = new Map(a.map((e) => [keyOf(e), e]));
  const mb = new Map(b.map((e) => [keyOf(e), e]));
  const line = (change: DiffLine["change"], e: CatalogEntry) => ({
    change,
    layer: e.layer,
    provider: e.provider,
    model: e.model,
    tenant: e.tenant,
    from: e.from.toISOString(),
  });
  const out: DiffLine[] = [];
  for (const [k, e] of mb) {
    const old = ma.get(k);
    if (!old) out.push({ ...line("added", e), after: e.prices });
    else if (JSON.stringify(old.prices) !== JSON.stringify(e.prices) || old.to?.getTime() !== e.to?.getTime())
      out.push({ ...line("changed", e), before: old.prices, after: e.prices });
  }
  for (const [k, e] of ma) if (!mb.has(k)) out.push({ ...line("removed", e), before: e.prices });
  // Sorted so a diff reads the same every time.
  return out.sort((x, y) =>
    `${x.provider}/${x.model}/${x.tenant}/${x.from}`.localeCompare(`${y.provider}/${y.model}/${y.tenant}/${y.from}`),
  );
}

export interface CatalogStore {
  /** Every row ever written, oldest version first. */
  rows(): Promise<CatalogEntry[]>;
  latestVersion(): Promise<number>;
  /** Appends the entries as one new version and returns it. */
  write(entries: readonly CatalogEntryInput[], actor: string): Promise<number>;
}

export function createCatalogStore(client: ClickHouseClient): CatalogStore {
  async function latestVersion(): Promise<number> {
    const [r] = await queryRows<{ v: string | number }>(client, "SELECT max(version) AS v FROM costline.price_catalog");
    return Number(r?.v ?? 0);
  }
  return {
    async rows() {
      const rows = await queryRows<Row>(
        client,
        // ORDER BY: oldest version first, so collapse() sees history in order.
        `SELECT version, layer, provider, model, tenant, toString(effective_from) AS effective_from,
                if(isNull(effective_to), NULL, toString(effective_to)) AS effective_to, prices, retired, source, note,
                toString(created_at) AS created_at, created_by
         FROM costline.price_catalog ORDER BY version, provider, model, tenant, effective_from`,
      );
      return rows.map(entryOf);
    },
    latestVersion,
    async write(entries, actor) {
      // Versions are numbered by the one API process that writes them.
      const version = (await latestVersion()) + 1;
      const rows = entries.map((e) => ({
        version,
        layer: e.layer ?? (e.tenant ? "tenant" : "deployment"),
        provider: e.provider,
        model: e.model,
        tenant: e.tenant,
        effective_from: chTime(e.from.toISOString()),
        effective_to: e.to ? chTime(e.to.toISOString()) : null,
        prices: JSON.stringify(e.prices),
        retired: e.retired,
        source: e.source,
        note: e.note,
        created_by: actor,
      }));
      await insertIdempotent(
        client,
        "costline.price_catalog",
        rows,
        rows.map((r) => `${version}\u0000${r.layer}\u0000${r.provider}\u0000${r.model}\u0000${r.tenant}\u0000${r.effective_from}`),
      );
      return version;
    },
  };
}
