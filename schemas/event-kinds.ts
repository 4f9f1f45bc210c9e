// The event kinds, as one table: a row per CloudEvent `type` of the union in
// events.ts, typed as a mapped type over that union, so a new payload type
// does not compile until it has its row here (and its price and ledger
// fields in pipeline/pricing/, typed the same way). What a kind decides in
// one place: the ledger's `kind`, whether an event naming no post is a
// shared cost the allocator splits, which invalid field gets its own dead
// letter reason, how the FOCUS export labels it, and the example producers
// copy (docs/event-kinds.md shows each; a unit test holds them equal).
import * as z from "zod";
import {
  costEvent,
  infraUsageEvent,
  llmUsageEvent,
  revenueEvent,
  vectordbUsageEvent,
  type CostlineEvent,
  type CostlineEventInput,
  type EventType,
} from "./events.ts";

/** How the FOCUS export (clickhouse/queries/focus_export.sql) labels a kind's rows; null: not a cost, left out. */
export interface FocusLabels {
  charge: string;
  resourceType: string;
  serviceCategory: string;
  serviceSubcategory: string;
}

/** The dead-letter reasons a kind may give an invalid field (amounts have their own classifier, schemas/money.ts). */
export type FieldReason = "invalid_usage";

/** The ledger columns a kind fills from its payload (pipeline/pricing/price-event.ts writes them). */
export interface LedgerFields {
  /** Who is paid: the LLM or vector-db provider, the infra service. */
  provider: string;
  category: string;
  /** The quantities priced, by unit. */
  usage: Record<string, number>;
}

export interface EventKind<T extends EventType, K extends string = string> {
  /** The ledger's `kind` column. */
  ledgerKind: K;
  ledger(data: Extract<CostlineEvent, { type: T }>["data"]): LedgerFields;
  /** Its JSON Schema: schemas/json/<wireName>.schema.json. */
  wireName: string;
  schema: z.ZodType<Extract<CostlineEvent, { type: T }>, Extract<CostlineEventInput, { type: T }>>;
  /** An event of this kind that names no post is a shared cost: the allocator splits it across posts. */
  shared: boolean;
  /**
   * A `data.<field>` that fails validation is dead-lettered with this reason
   * rather than "validation" (a FailureReason of pipeline/errors.ts: decode.ts
   * does not compile with one that is not).
   */
  fieldReasons: Readonly<Record<string, FieldReason>>;
  focus: FocusLabels | null;
  /** What a producer writes (defaults left out): shown in docs/event-kinds.md. */
  example: Extract<CostlineEventInput, { type: T }>;
}

/** Infers the ledger kinds as literals, so `LedgerKind` is the union of what the rows say. */
const table = <K extends string>(rows: { readonly [T in EventType]: EventKind<T, K> }) => rows;

export const eventKinds = table({
  "costline.llm.usage": {
    ledgerKind: "llm",
    ledger: (d) => ({ provider: d.provider, category: "", usage: d.usage as Record<string, number> }),
    wireName: "llm-usage-event",
    schema: llmUsageEvent,
    shared: false,
    fieldReasons: { usage: "invalid_usage" },
    focus: { charge: "LLM usage", resourceType: "Model", serviceCategory: "AI and Machine Learning", serviceSubcategory: "Generative AI" },
    example: {
      specversion: "1.0",
      id: "01JD3M8Q9X",
      source: "svc/hooks",
      type: "costline.llm.usage",
      time: "2026-11-22T10:00:00.123Z",
      data: {
        tenant: "acme",
        post_id: "p-981",
        persona_id: "ai_jesus",
        user_id: "u-17",
        feature: "hooks",
        operation: "hook_generation",
        trace_id: "4bf92f35",
        request_id: "req-77",
        tags: { env: "prod" },
        provider: "openai",
        model: "gpt-4o-2024-08-06",
        usage: { input_tokens: 1000, cache_read_tokens: 200, cache_write_tokens: 0, output_tokens: 500 },
        batch: false,
        latency_ms: 820,
        status: "ok",
      },
    },
  },
  "costline.infra.usage": {
    ledgerKind: "infra",
    ledger: (d) => ({ provider: d.service, category: d.resource, usage: { [d.unit]: d.quantity } }),
    wireName: "infra-usage-event",
    schema: infraUsageEvent,
    shared: true,
    fieldReasons: {},
    focus: {
      charge: "Infrastructure usage",
      resourceType: "Infrastructure",
      serviceCategory: "Compute",
      serviceSubcategory: "Other (Compute)",
    },
    example: {
      specversion: "1.0",
      id: "infra-1",
      source: "svc/k8s",
      type: "costline.infra.usage",
      time: "2026-11-22T10:00:00.000Z",
      data: { tenant: "acme", feature: "hooks", resource: "gpu", quantity: 3600, unit: "gpu_second", service: "embedder", node: "gpu-7" },
    },
  },
  "costline.vectordb.usage": {
    ledgerKind: "vectordb",
    ledger: (d) => ({
      provider: d.provider,
      category: "",
      usage: {
        read_units: d.read_units,
        write_units: d.write_units,
        ...(d.storage_gib_month ? { storage_gib_month: d.storage_gib_month } : {}),
      },
    }),
    wireName: "vectordb-usage-event",
    schema: vectordbUsageEvent,
    shared: true,
    fieldReasons: {},
    focus: {
      charge: "Vector database usage",
      resourceType: "Vector index",
      serviceCategory: "Databases",
      serviceSubcategory: "Other (Databases)",
    },
    example: {
      specversion: "1.0",
      id: "vdb-1",
      source: "svc/search",
      type: "costline.vectordb.usage",
      time: "2026-11-22T10:00:01.000Z",
      data: { tenant: "acme", post_id: "p-981", provider: "pinecone", operation: "query", read_units: 12, write_units: 0 },
    },
  },
  "costline.revenue": {
    ledgerKind: "revenue",
    ledger: () => ({ provider: "", category: "", usage: {} }),
    wireName: "revenue-event",
    schema: revenueEvent,
    shared: false,
    fieldReasons: {},
    focus: null,
    example: {
      specversion: "1.0",
      id: "rev-1",
      source: "svc/billing",
      type: "costline.revenue",
      time: "2026-11-22T10:00:02.000Z",
      data: { tenant: "acme", post_id: "p-981", amount: "0.25", currency: "USD" },
    },
  },
  "costline.cost": {
    ledgerKind: "cost",
    ledger: (d) => ({ provider: "", category: d.category, usage: {} }),
    wireName: "cost-event",
    schema: costEvent,
    shared: false,
    fieldReasons: {},
    focus: { charge: "Cost", resourceType: "Other", serviceCategory: "Other", serviceSubcategory: "Other (Other)" },
    example: {
      specversion: "1.0",
      id: "cost-1",
      source: "svc/billing",
      type: "costline.cost",
      time: "2026-11-22T10:00:03.000Z",
      data: { tenant: "acme", feature: "hooks", amount: "-5.25", currency: "USD", category: "refund" },
    },
  },
});

export type LedgerKind = (typeof eventKinds)[EventType]["ledgerKind"];

const rows = Object.values(eventKinds);

/** The ledger columns of one event, by its kind's row. */
export function ledgerFieldsOf(event: CostlineEvent): LedgerFields {
  return (eventKinds[event.type].ledger as (data: CostlineEvent["data"]) => LedgerFields)(event.data);
}

/** Every ledger kind, once each. */
export const ledgerKinds = [...new Set(rows.map((r) => r.ledgerKind))] as [LedgerKind, ...LedgerKind[]];

/** The ledger kinds whose events, naming no post, the allocator splits: one bound `Array(String)` parameter in SQL. */
export const sharedCostKinds: readonly LedgerKind[] = rows.filter((r) => r.shared).map((r) => r.ledgerKind);

/** Every event schema by its JSON Schema name. */
export const eventWireSchemas: Record<string, z.ZodType> = Object.fromEntries(rows.map((r) => [r.wireName, r.schema]));

/** Parallel arrays for ClickHouse's transform(): the FOCUS labels of each costed kind. */
export function focusLabelParams(): Record<
  "focus_kinds" | "focus_charges" | "focus_types" | "focus_categories" | "focus_subcategories",
  string[]
> {
  const costed = rows.filter((r) => r.focus !== null);
  return {
    focus_kinds: costed.map((r) => r.ledgerKind),
    focus_charges: costed.map((r) => r.focus!.charge),
    focus_types: costed.map((r) => r.focus!.resourceType),
    focus_categories: costed.map((r) => r.focus!.serviceCategory),
    focus_subcategories: costed.map((r) => r.focus!.serviceSubcategory),
  };
}
