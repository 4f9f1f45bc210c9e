// The one detection engine on a running stack:
// - the stage and `costline detect --tenant` (the ledger replay, through the
//   API: only `costline up` may open the embedded engine) raise the same
//   alerts on the same window series: real events, windowed live by the
//   stage, rebuilt from the ledger by the replay;
// - the detector's lanes: a spike alert is raised while a flood of post
//   windows is still queued on the post lane's consumer.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStack } from "../helpers/stack-nats.ts";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createProducer, type Producer } from "../../pipeline/producer/producer.ts";
import { DEFAULT_PARTITIONS, createSubjects } from "../../pipeline/nats/subjects.ts";
import { partitionOf } from "../../pipeline/nats/partition.ts";
import { partitionDurable } from "../../pipeline/nats/topology.ts";
import { alertSchema, type Alert, type CostlineEventInput, type WindowAggregate } from "../../schemas/index.ts";
import { runCli } from "../helpers/cli-process.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

const ENV = { COSTLINE_WINDOW_S: "1", COSTLINE_ALLOWED_LATENESS_S: "4", COSTLINE_WINDOW_EMIT_MS: "200" };
let stack: StackProcess;
let nc: NatsConnection;
let js: JetStreamClient;
let producer: Producer;
const alerts: { alert: Alert; at: number }[] = [];
const subjects = createSubjects("costline");
let seq = 0;

function call(tenant: string, persona: string, post: string, outputTokens: number): CostlineEventInput {
  return {
    specversion: "1.0",
    id: `r-${seq++}`,
    source: "test/detection-engine",
    type: "costline.llm.usage",
    time: new Date().toISOString(),
    data: {
      tenant,
      persona_id: persona,
      post_id: post,
      feature: "chat",
      operation: "reply",
      provider: "openai",
      model: "gpt-4o-mini",
      usage: { input_tokens: 500, output_tokens: outputTokens },
    },
  };
}

beforeAll(async () => {
  stack = await startStack(tempHome(), ENV);
  nc = await connectStack(stack, "operator");
  // A slow machine takes a while to store the post-window flood.
  js = jetstream(nc, { timeout: 60_000 });
  producer = await createProducer({ nc });
  const consumer = await js.consumers.get("COSTLINE_ALERTS");
  void (async () => {
    for await (const m of await consumer.consume()) alerts.push({ alert: alertSchema.parse(m.json()), at: Date.now() });
  })();
});
afterAll(async () => {
  await nc?.close();
  // The alert store may still be inserting the flood's alerts when the stack is asked to stop.
  if (stack?.child.exitCode === null) await stack.stop();
}, 300_000);

/** What identifies an alert across the stage and a replay: its lifecycle, its status and the window it was raised on. */
const id = (a: Alert) => `${a.type} ${a.status} ${a.scope} ${JSON.stringify(a.scope_key)} ${a.window_start}`;

describe("one engine, live and replayed", () => {
  it("the ledger replay raises the alerts the stage raised", async () => {
    const tenant = "replay-co";
    const from = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
    const second = () => new Promise((r) => setTimeout(r, 1000));
    // 22 s of steady traffic (12 final windows need 12 s plus the lateness), a runaway on persona p-a, then 8 s steady again.
    for (let s = 0; s < 22; s++) {
      await producer.publish(Array.from({ length: 6 }, (_, i) => call(tenant, i % 2 ? "p-a" : "p-b", `post-${s}-${i}`, 400)));
      await second();
    }
    await producer.publish(Array.from({ length: 40 }, (_, i) => call(tenant, "p-a", `loop-${i % 4}`, 4000)));
    await second();
    for (let s = 0; s < 8; s++) {
      await producer.publish(Array.from({ length: 6 }, (_, i) => call(tenant, i % 2 ? "p-a" : "p-b", `post-late-${s}-${i}`, 400)));
      await second();
    }
    const to = new Date(Math.ceil(Date.now() / 1000) * 1000).toISOString();
    await waitFor(
      "the live spike on persona p-a",
      async () => alerts.find((x) => x.alert.tenant === tenant && x.alert.type === "spike" && x.alert.scope_key.persona_id === "p-a"),
      30_000,
    );
    // Every window up to --to is final (wall clock past end + lateness + a window) and judged.
    await waitFor(
      "the last windows final and judged",
      async () => {
        const info = await (
          await jetstreamManager(nc)
        ).consumers.info("COSTLINE_WINDOWS", partitionDurable("detector", partitionOf(tenant, DEFAULT_PARTITIONS)));
        return Date.now() > Date.parse(to) + 7000 && info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
      },
      60_000,
    );
    // The replay reads the ledger, which flushes on its own clock (up to a second, longer on a loaded
    // machine): wait until it holds every event published, then check that it holds no more.
    const totals = await waitFor("every event in the ledger", async () => {
      const t = await stack.api<{ events: number }>(`/v1/totals?tenant=${tenant}`);
      return t.events >= 30 * 6 + 40 ? t : undefined;
    });
    expect(totals.events).toBe(30 * 6 + 40);

    const live = alerts.map((x) => x.alert).filter((a) => a.tenant === tenant && a.window_start < to);
    // The stage may fire first on an open window; a replay sees final windows only: compare each lifecycle's first firing window and its resolution.
    const firstOf = (list: Alert[]) => {
      const seen = new Map<string, Alert>();
      for (const a of list) if (!seen.has(`${a.fingerprint}|${a.status}`)) seen.set(`${a.fingerprint}|${a.status}`, a);
      return [...seen.values()].map(id).sort();
    };
    const r = await runCli(
      ["detect", "--tenant", tenant, "--from", from, "--to", to, "--warmup-hours", "0"],
      { COSTLINE_HOME: stack.home, ...ENV },
      120_000,
    );
    expect(r.stderr).toMatch(/windows of replay-co replayed through spike/);
    expect(r.code).toBe(0);
    const replayed = r.stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => alertSchema.parse(JSON.parse(l)));
    expect(replayed.some((a) => a.type === "spike" && a.scope === "tenant_persona" && a.scope_key.persona_id === "p-a")).toBe(true);
    expect(firstOf(replayed)).toEqual(firstOf(live));
    // Same detector, same evidence: the cause names the runaway's posts.
    const spike = replayed.find((a) => a.type === "spike" && a.scope === "tenant_persona")!;
    expect(spike.evidence.detector).toBe("spike");
    expect(spike.evidence.by_post[0]?.key).toMatch(/^loop-/);
  });

  it("refuses a tenant key asking for another tenant's windows", async () => {
    const res = await fetch(`${stack.info.api_url}/v1/detect/windows?tenant=replay-co&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z`, {
      headers: { authorization: `Bearer ${stack.adminKey}` },
    });
    expect(res.status).toBe(200);
    const bad = await fetch(
      `${stack.info.api_url}/v1/detect/windows?tenant=replay-co&scope=nonsense&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z`,
      { headers: { authorization: `Bearer ${stack.adminKey}` } },
    );
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/scopes/);
  });
});

describe("detector lanes", () => {
  it("raises a spike while a flood of post windows is still queued", async () => {
    const t0 = Date.parse("2026-11-23T08:00:00Z");
    const win = (scope: WindowAggregate["scope"], key: Record<string, string>, i: number, cost: string): WindowAggregate => ({
      scope,
      key,
      tenant: key.tenant!,
      window_start: new Date(t0 + i * 60_000).toISOString(),
      window_end: new Date(t0 + (i + 1) * 60_000).toISOString(),
      events: 1,
      unpriced_events: 0,
      cost_usd: cost,
      revenue_usd: "0",
      input_tokens: 0,
      output_tokens: 0,
      requests: 0,
      by_model: {},
      by_operation: {},
      top_posts: {},
      top_users: {},
      final: true,
      emitted_at: new Date(t0 + (i + 1) * 60_000).toISOString(),
    });
    // The flood: 20 messages of 500 post windows, each post over its target cost, so the
    // post lane has 10,000 cost-per-post alerts to publish: bulk work, ten messages in flight.
    for (let m = 0; m < 20; m += 10)
      await Promise.all(
        Array.from({ length: 10 }, (_, j) => {
          const batch = Array.from({ length: 500 }, (_, k) => win("post", { tenant: "flood-co", post_id: `p-${m + j}-${k}` }, 0, "0.2"));
          return js.publish(subjects.windows("post", "flood-co"), JSON.stringify(batch), { msgID: `flood-${m + j}` });
        }),
      );
    // Then a tenant's baseline and its spike, on the main lane.
    for (let i = 0; i < 14; i++)
      await js.publish(
        subjects.windows("tenant", "lane-co"),
        JSON.stringify([win("tenant", { tenant: "lane-co" }, i, (0.1 + (i % 3) * 0.005).toFixed(3))]),
        { msgID: `lane-${i}` },
      );
    await js.publish(subjects.windows("tenant", "lane-co"), JSON.stringify([win("tenant", { tenant: "lane-co" }, 14, "0.6")]), {
      msgID: "lane-spike",
    });
    const jsm = await jetstreamManager(nc);
    const spike = await waitFor(
      "the lane-co spike",
      async () => alerts.find((x) => x.alert.tenant === "lane-co" && x.alert.type === "spike"),
      60_000,
    );
    const posts = await jsm.consumers.info(
      "COSTLINE_WINDOWS",
      partitionDurable("detectorPosts", partitionOf("flood-co", DEFAULT_PARTITIONS)),
    );
    // The post lane was still working through the flood when the spike went out.
    expect(posts.num_pending + posts.num_ack_pending).toBeGreaterThan(0);
    expect(spike.alert.severity).toBe("critical");
    // And the flood is not lost: the post lane finishes it, an alert for every post.
    await waitFor(
      "the post lane to drain",
      async () => {
        const i = await jsm.consumers.info(
          "COSTLINE_WINDOWS",
          partitionDurable("detectorPosts", partitionOf("flood-co", DEFAULT_PARTITIONS)),
        );
        return i.num_pending + i.num_ack_pending === 0 ? true : undefined;
      },
      240_000,
    );
    await waitFor(
      "every post's alert",
      async () =>
        alerts.filter((x) => x.alert.tenant === "flood-co" && x.alert.type === "cost_per_post").length >= 10_000 ? true : undefined,
      120_000,
    );
  }, 400_000);
});
