// The variant tables: every channel type of the schema has its row (how it is
// resolved, built and redacted), every event type its kind (ledger kind,
// shared or not, ledger columns, example), every section of the cost checks'
// parameters its check; and a table missing a row does not compile
// (`npm run lint` typechecks the tests too, so the @ts-expect-error lines fail
// the moment a missing row stops being an error).
import { describe, expect, it } from "vitest";
import { channelSchema } from "../../schemas/index.ts";
import type { ChannelType } from "../../pipeline/config/notify-config.ts";
import { channelKinds, channelSecrets, createChannels, type ChannelKind } from "../../pipeline/notify/channels.ts";
import { resolveNotifyConfig } from "../../pipeline/config/notify-config.ts";
import {
  costlineEvent,
  eventKinds,
  eventTypes,
  focusLabelParams,
  sharedCostKinds,
  type EventKind,
  type EventType,
} from "../../schemas/index.ts";
import { createEventPricer } from "../../pipeline/pricing/price-event.ts";
import { loadConfig } from "../../pipeline/config/config.ts";
import { costCheckTable, type CheckName, type CostCheck } from "../../pipeline/detect/checks.ts";
import { costChecksSchema } from "../../pipeline/detect/cost-checks.ts";
import { costChecks } from "../../pipeline/detect/registry.ts";

const schemaTypes = channelSchema.options.map((o) => o.shape.type.value).sort();

describe("the channel table", () => {
  it("has one row per channel type the schema accepts", () => {
    expect(Object.keys(channelKinds).sort()).toEqual(schemaTypes);
  });

  it("builds a client and names the secrets of every type", () => {
    const config = resolveNotifyConfig(
      {
        channels: {
          s: { type: "slack", url: "https://hooks.example/T000/B000/slack-secret-123" },
          p: { type: "pagerduty", routing_key: "pd-routing-key-123" },
          w: { type: "webhook", url: "https://hooks.example/w", secret: "webhook-secret-123", headers: { "x-token": "header-token-123" } },
          e: { type: "email", smtp: { url: "smtp://u:smtp-password-123@mail.example:587" }, from: "a@example.com", to: ["b@example.com"] },
        },
      },
      {},
      10,
    );
    const clients = createChannels(config);
    expect([...clients.values()].map((c) => c.type).sort()).toEqual(schemaTypes);
    const secrets = Object.values(config.channels).flatMap(channelSecrets);
    for (const s of ["pd-routing-key-123", "webhook-secret-123", "header-token-123", "smtp-password-123"]) expect(secrets).toContain(s);
  });

  it("does not compile without a row for each type", () => {
    // @ts-expect-error the email row is missing
    const incomplete: { [K in ChannelType]: ChannelKind<K> } = {
      slack: channelKinds.slack,
      pagerduty: channelKinds.pagerduty,
      webhook: channelKinds.webhook,
    };
    expect(Object.keys(incomplete)).toHaveLength(3);
  });
});

describe("the event kinds table", () => {
  const pricer = createEventPricer(loadConfig({}));

  it("has one row per event type the union decodes", () => {
    expect(Object.keys(eventKinds).sort()).toEqual([...eventTypes].sort());
    expect(costlineEvent.options.length).toBe(Object.keys(eventKinds).length);
  });

  it("prices each kind's example into a ledger row of its kind, with the columns its row names", () => {
    for (const [type, kind] of Object.entries(eventKinds)) {
      const event = costlineEvent.parse(kind.example);
      const row = pricer(event, new Date("2026-11-22T10:00:00Z"));
      expect({ type, kind: row.kind }).toEqual({ type, kind: kind.ledgerKind });
      expect(row.category).toBe(kind.ledger(event.data as never).category);
      expect(row.usage).toEqual(kind.ledger(event.data as never).usage);
    }
  });

  it("marks a shared kind's event that names nothing as allocated, another kind's as unattributed", () => {
    const bare = (type: EventType) => {
      const { data, ...envelope } = eventKinds[type].example;
      return costlineEvent.parse({ ...envelope, data: stripKeys(data) });
    };
    expect(pricer(bare("costline.infra.usage"), new Date()).attribution_method).toBe("allocated");
    expect(pricer(bare("costline.llm.usage"), new Date()).attribution_method).toBe("unattributed");
    expect(pricer(bare("costline.cost"), new Date()).attribution_method).toBe("unattributed");
  });

  it("passes the shared kinds and the FOCUS labels to SQL as parallel arrays", () => {
    expect([...sharedCostKinds].sort()).toEqual(["infra", "vectordb"]);
    const focus = focusLabelParams();
    expect(focus.focus_kinds).not.toContain("revenue");
    for (const v of Object.values(focus)) expect(v).toHaveLength(focus.focus_kinds.length);
  });

  it("does not compile without a row for each type", () => {
    // @ts-expect-error the costline.cost row is missing
    const incomplete: { [T in EventType]: EventKind<T> } = {
      "costline.llm.usage": eventKinds["costline.llm.usage"],
      "costline.infra.usage": eventKinds["costline.infra.usage"],
      "costline.vectordb.usage": eventKinds["costline.vectordb.usage"],
      "costline.revenue": eventKinds["costline.revenue"],
    };
    expect(Object.keys(incomplete)).toHaveLength(4);
  });
});

/** An example's payload without the keys that attribute it to a post (or anything else). */
function stripKeys(data: Record<string, unknown>): Record<string, unknown> {
  const out = { ...data };
  for (const k of ["post_id", "persona_id", "user_id", "feature", "operation"]) delete out[k];
  return out;
}

describe("the cost checks table", () => {
  it("has one row per section of the checks' parameters, and --list names each", () => {
    const sections = Object.keys(costChecksSchema.shape).filter((k) => k !== "minHistory");
    expect(Object.keys(costCheckTable).sort()).toEqual(sections.sort());
    const listed = costChecks.map((c) => c.name);
    for (const row of Object.values(costCheckTable)) expect(listed).toContain(row.type);
    expect(new Set(listed).size).toBe(listed.length);
  });

  it("does not compile without a row for each section", () => {
    // @ts-expect-error the costPerPost row is missing
    const incomplete: { [K in CheckName]: CostCheck } = {
      spike: costCheckTable.spike,
      creep: costCheckTable.creep,
      efficiency: costCheckTable.efficiency,
      roi: costCheckTable.roi,
      mixShift: costCheckTable.mixShift,
    };
    expect(Object.keys(incomplete)).toHaveLength(5);
  });
});
