// The notifier on a running stack (`costline up` as a child process, real
// nats-server and embedded ClickHouse), driven by alerts published on the
// alerts stream and delivered to fake Slack, PagerDuty, webhook and SMTP
// receivers on loopback: routing by severity and tenant, grouping, inhibition,
// silences with expiry, resolves, retries (fails twice, 429 + Retry-After, gives
// up into the DLQ), and no second delivery for a redelivered or half-recorded alert.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStack } from "../helpers/stack-nats.ts";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { dlqRecordSchema, webhookPayloadSchema, type DlqRecord } from "../../schemas/index.ts";
import { verifyWebhookSignature } from "../../pipeline/notify/channel-webhook.ts";
import { deliveryKey } from "../../pipeline/notify/delivery-state.ts";
import { notifyBuckets } from "../../pipeline/notify/kv-buckets.ts";
import { cliPath, repoRoot, startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";
import { makeAlert, publishAlert, startHttpReceivers, startSmtpReceiver } from "./notifier-receivers.ts";

/**
 * The CLI run asynchronously: a synchronous spawn would freeze this process's
 * event loop for the CLI's start-up, long enough for the API to close an idle
 * keep-alive socket that the next fetch would then reuse ("other side closed").
 */
async function cli(home: string, ...args: string[]): Promise<{ status: number; stdout: string }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [cliPath, ...args], {
      cwd: repoRoot,
      env: { ...process.env, COSTLINE_HOME: home },
      encoding: "utf8",
    });
    return { status: 0, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { status: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "" };
  }
}

const HOOK_SECRET = "s3cret-for-tests";
let stack: StackProcess;
let nc: NatsConnection;
let js: JetStreamClient;
let http: Awaited<ReturnType<typeof startHttpReceivers>>;
let smtp: Awaited<ReturnType<typeof startSmtpReceiver>>;
const dlq: DlqRecord[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const forTenant = (p: string, tenant: string) =>
  http.to(p).filter((r) => JSON.stringify(r.json ?? {}).includes(`"${tenant}"`) || (r.json?.text ?? "").includes(tenant));
const mailsFor = (tenant: string) => smtp.mails.filter((m) => m.raw.includes(tenant));
const logRows = (tenant: string) =>
  stack.sql<{ channel: string; result: string; reason: string; attempt: number; alert_id: string; latency_ms: number | null }>(
    `SELECT channel, result, reason, attempt, alert_id, latency_ms FROM costline.notification_log WHERE tenant = '${tenant}' ORDER BY attempted_at, channel`,
  );

beforeAll(async () => {
  http = await startHttpReceivers();
  smtp = await startSmtpReceiver();
  const home = tempHome("costline-notifier-");
  const config = {
    notify: {
      channels: {
        slack: { type: "slack", url: `${http.base}/slack/main` },
        pagerduty: { type: "pagerduty", routing_key: { env: "TEST_PD_ROUTING_KEY" }, url: `${http.base}/pd` },
        email: { type: "email", smtp: { host: "127.0.0.1", port: smtp.port }, from: "costline@example.com", to: ["finance@example.com"] },
        hook: { type: "webhook", url: `${http.base}/hook/main`, secret: { env: "TEST_HOOK_SECRET" } },
        flaky: { type: "webhook", url: `${http.base}/hook/flaky` },
        limited: { type: "slack", url: `${http.base}/slack/limited` },
        broken: { type: "webhook", url: `${http.base}/hook/broken` },
        cautious: { type: "webhook", url: `${http.base}/hook/cautious`, on_uncertain: "skip" },
      },
      route: {
        group_by: ["tenant", "type"],
        group_wait: "300ms",
        group_interval: "1s",
        repeat_interval: "1h",
        routes: [
          { matchers: ["tenant=retry-flaky"], channels: ["flaky"] },
          { matchers: ["tenant=retry-limited"], channels: ["limited"] },
          { matchers: ["tenant=retry-broken"], channels: ["broken"] },
          { matchers: ["tenant=cautious-co"], channels: ["cautious"] },
          { matchers: ['tenant=~"initech|hooked-.*"'], channels: ["hook"], continue: true },
          { matchers: ["severity=critical"], channels: ["slack", "pagerduty", "email"] },
          { matchers: ["severity=high"], channels: ["slack", "pagerduty"] },
          { matchers: ["severity=medium"], channels: ["slack"] },
          { matchers: ["severity=info"], channels: ["email"] },
        ],
      },
      retry: { attempts: 3, initial: "150ms", max: "1s", timeout: "3s" },
      links: [{ text: "Dashboard", url: "https://grafana.example.com/d/costline?var-tenant={tenant}&var-persona={persona_id}" }],
    },
  };
  const file = path.join(home, "notify.json");
  writeFileSync(file, JSON.stringify(config));
  stack = await startStack(home, { COSTLINE_CONFIG: file, TEST_PD_ROUTING_KEY: "pd-routing-key-1", TEST_HOOK_SECRET: HOOK_SECRET });
  nc = await connectStack(stack);
  js = jetstream(nc);
  const consumer = await js.consumers.get("COSTLINE_DLQ");
  void (async () => {
    for await (const m of await consumer.consume()) dlq.push(dlqRecordSchema.parse(m.json()));
  })();
});

let pipelineNc: NatsConnection | undefined;
afterAll(async () => {
  await pipelineNc?.close();
  await nc?.close();
  if (stack?.child.exitCode === null) await stack.stop();
  await http?.close();
  await smtp?.close();
});

describe("notifier", () => {
  it("routes by severity: critical to Slack, PagerDuty and e-mail; high to Slack and PagerDuty; medium to Slack; info to e-mail", async () => {
    const crit = makeAlert({ tenant: "route-crit", severity: "critical" });
    const high = makeAlert({ tenant: "route-high", severity: "high" });
    const med = makeAlert({ tenant: "route-med", severity: "medium" });
    const info = makeAlert({ tenant: "route-info", severity: "info", type: "budget" });
    for (const a of [crit, high, med, info]) await publishAlert(js, a);

    await waitFor(
      "every routed delivery",
      async () =>
        forTenant("/slack/main", "route-crit").length &&
        forTenant("/pd", "route-crit").length &&
        mailsFor("route-crit").length &&
        forTenant("/slack/main", "route-high").length &&
        forTenant("/pd", "route-high").length &&
        forTenant("/slack/main", "route-med").length &&
        mailsFor("route-info").length
          ? true
          : undefined,
      10_000,
    );
    await sleep(800);
    expect(forTenant("/pd", "route-med")).toHaveLength(0);
    expect(mailsFor("route-med")).toHaveLength(0);
    expect(mailsFor("route-high")).toHaveLength(0);
    expect(forTenant("/slack/main", "route-info")).toHaveLength(0);
    expect(forTenant("/pd", "route-info")).toHaveLength(0);
    for (const t of ["route-crit", "route-high", "route-med"]) expect(forTenant("/slack/main", t)).toHaveLength(1);

    // Slack gets Block Kit: observed vs expected, the likely cause, the link.
    const slack = forTenant("/slack/main", "route-crit")[0]!.json;
    expect(slack.text).toContain("CRITICAL");
    const blocks = JSON.stringify(slack.blocks);
    expect(slack.blocks[0].type).toBe("header");
    expect(blocks).toContain("*Observed*\\n$12.50");
    expect(blocks).toContain("*Expected*\\n$1.25");
    expect(blocks).toContain("model gpt-4o (81 %");
    // Slack's control characters are escaped inside links too (Slack reads "&amp;" as "&").
    expect(blocks).toContain("<https://grafana.example.com/d/costline?var-tenant=route-crit&amp;var-persona=p-1|Dashboard>");
    // PagerDuty Events v2: a trigger keyed by the fingerprint, with the configured routing key.
    const pd = forTenant("/pd", "route-crit")[0]!.json;
    expect(pd).toMatchObject({ routing_key: "pd-routing-key-1", event_action: "trigger", dedup_key: crit.fingerprint });
    expect(pd.payload).toMatchObject({ severity: "critical", class: "spike", group: "route-crit" });
    expect(forTenant("/pd", "route-high")[0]!.json.payload.severity).toBe("error");
    // E-mail over SMTP, with a Message-ID from the notification id.
    const mail = mailsFor("route-crit")[0]!;
    expect(mail.to).toEqual(["finance@example.com"]);
    expect(mail.subject).toContain("CRITICAL");
    expect(mail.messageId).toMatch(/^<[0-9a-f]{32}@costline>$/);

    // The delivery log has one delivered row per channel, with the latency from publish.
    const rows = await waitFor("log rows", async () => {
      const r = await logRows("route-crit");
      return r.length >= 3 ? r : undefined;
    });
    expect(rows.map((r) => r.channel).sort()).toEqual(["email", "pagerduty", "slack"]);
    expect(rows.every((r) => r.result === "delivered" && r.latency_ms !== null && r.latency_ms < 5000)).toBe(true);
  });

  it("matches tenants with a regex route and signs webhooks with HMAC-SHA256 over timestamp and body", async () => {
    const a = makeAlert({ tenant: "hooked-1", severity: "medium" });
    await publishAlert(js, a);
    const req = await waitFor("the webhook", async () => forTenant("/hook/main", "hooked-1")[0], 10_000);
    const body = webhookPayloadSchema.parse(req.json);
    expect(body.alerts.map((x) => x.id)).toEqual([a.id]);
    expect(req.headers["idempotency-key"]).toBe(body.notification_id);
    const headers = { timestamp: req.headers["x-costline-timestamp"] as string, signature: req.headers["x-costline-signature"] as string };
    expect(verifyWebhookSignature(HOOK_SECRET, headers, req.body)).toBe(true);
    expect(verifyWebhookSignature(HOOK_SECRET, headers, req.body.replace("hooked-1", "hooked-2"))).toBe(false);
    expect(verifyWebhookSignature("another-secret", headers, req.body)).toBe(false);
    // `continue: true`: the severity routes still apply.
    await waitFor("slack too", async () => forTenant("/slack/main", "hooked-1")[0], 5000);
  });

  it("groups alerts of one tenant and type into one notification, and holds later ones for the group interval", async () => {
    const t0 = Date.now();
    for (const persona of ["g-a", "g-b", "g-c"]) await publishAlert(js, makeAlert({ tenant: "grouped", severity: "medium", persona }));
    await publishAlert(js, makeAlert({ tenant: "grouped", severity: "medium", type: "creep", persona: "g-a" }));
    const first = await waitFor(
      "the first group notification",
      async () => forTenant("/slack/main", "grouped").find((r) => r.json.text.includes("3 firing")),
      10_000,
    );
    expect(first.at - t0).toBeGreaterThanOrEqual(250);
    expect(
      first.json.blocks.filter((b: { type: string; text?: { text: string } }) => b.type === "section" && b.text?.text.includes("*spike*")),
    ).toHaveLength(3);
    // Another type is another group: its own message.
    await waitFor("the creep group", async () => forTenant("/slack/main", "grouped").find((r) => r.json.text.includes("creep")), 5000);
    // A fourth spike right after the flush waits for the group interval.
    await publishAlert(js, makeAlert({ tenant: "grouped", severity: "medium", persona: "g-d" }));
    const second = await waitFor(
      "the second notification",
      async () => forTenant("/slack/main", "grouped").find((r) => r.json.text.includes("g-d")),
      10_000,
    );
    expect(second.at - first.at).toBeGreaterThanOrEqual(700);
    expect(forTenant("/slack/main", "grouped")).toHaveLength(3);
  });

  it("inhibits lower alerts on the scope of a firing critical one, and only there", async () => {
    const crit = makeAlert({ tenant: "inhibit-co", severity: "critical", type: "spike", persona: "p-x" });
    const lowSame = makeAlert({ tenant: "inhibit-co", severity: "medium", type: "efficiency", persona: "p-x" });
    const lowOther = makeAlert({ tenant: "inhibit-co", severity: "medium", type: "efficiency", persona: "p-y" });
    await publishAlert(js, crit);
    await publishAlert(js, lowSame);
    await publishAlert(js, lowOther);
    await waitFor(
      "the other scope's alert",
      async () => forTenant("/slack/main", "inhibit-co").find((r) => r.body.includes("p-y")),
      10_000,
    );
    const rows = await waitFor("the suppression in the log", async () => {
      const r = await logRows("inhibit-co");
      return r.find((x) => x.alert_id === lowSame.id) ? r : undefined;
    });
    expect(rows.find((x) => x.alert_id === lowSame.id)).toMatchObject({
      channel: "slack",
      result: "suppressed",
      reason: `inhibited:${crit.fingerprint}`,
    });
    expect(
      http.to("/slack/main").some((r) => r.body.includes(lowSame.id) || (r.body.includes("efficiency") && r.body.includes("p-x"))),
    ).toBe(false);
  });

  it("silences matching alerts until the silence expires, through the API and the CLI", async () => {
    const res = await fetch(`${stack.info.api_url}/v1/silences`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ matchers: ["tenant=quiet-co", 'type=~"spike|creep"'], duration: "4s", comment: "maintenance" }),
    });
    expect(res.status).toBe(201);
    const silence = (await res.json()) as { id: string; state: string; ends_at: string };
    expect(silence.state).toBe("active");
    const active = await stack.api<{ silences: { id: string }[] }>("/v1/silences?state=active");
    expect(active.silences.map((s) => s.id)).toContain(silence.id);
    // Bad matchers are refused with a clear error.
    const bad = await fetch(`${stack.info.api_url}/v1/silences`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.adminKey}` },
      body: JSON.stringify({ matchers: ["tenant~~x"], duration: "1h", comment: "x" }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain("is not a matcher");

    const muted = makeAlert({ tenant: "quiet-co", severity: "medium" });
    await publishAlert(js, muted);
    const rows = await waitFor("the silenced row", async () => {
      const r = await logRows("quiet-co");
      return r.length ? r : undefined;
    });
    expect(rows[0]).toMatchObject({ result: "suppressed", reason: `silenced:${silence.id}` });
    expect(forTenant("/slack/main", "quiet-co")).toHaveLength(0);

    // A tenant key sees its tenant's silences; the CLI lists them too.
    const keyOut = await cli(stack.home, "keys", "create", "--tenant", "quiet-co");
    const tenantKey = JSON.parse(keyOut.stdout).key as string;
    const seen = await stack.api<{ silences: { id: string }[] }>("/v1/silences", tenantKey);
    expect(seen.silences.map((s) => s.id)).toEqual([silence.id]);
    const other = await cli(stack.home, "silences", "list");
    expect(other.status).toBe(0);
    expect(JSON.parse(other.stdout).silences.map((s: { id: string }) => s.id)).toContain(silence.id);
    const denied = await fetch(`${stack.info.api_url}/v1/silences`, {
      method: "POST",
      headers: { authorization: `Bearer ${tenantKey}` },
      body: "{}",
    });
    expect(denied.status).toBe(403);

    // After its end the silence no longer mutes: a new alert of the same kind is delivered.
    await sleep(Math.max(0, Date.parse(silence.ends_at) - Date.now() + 200));
    const after = makeAlert({ tenant: "quiet-co", severity: "medium", persona: "p-2" });
    await publishAlert(js, after);
    await waitFor("the alert after expiry", async () => forTenant("/slack/main", "quiet-co")[0], 10_000);

    // Expiring a silence early through the CLI ends it at once.
    const added = await cli(stack.home, "silences", "add", "--matcher", "tenant=quiet-two", "--duration", "1h", "--comment", "until fixed");
    expect(added.status).toBe(0);
    const id = JSON.parse(added.stdout).id as string;
    const expired = await cli(stack.home, "silences", "expire", id);
    expect(JSON.parse(expired.stdout).state).toBe("expired");
    await sleep(200);
    await publishAlert(js, makeAlert({ tenant: "quiet-two", severity: "medium" }));
    await waitFor("the alert after the early expiry", async () => forTenant("/slack/main", "quiet-two")[0], 10_000);
  });

  it("resolves: PagerDuty gets a resolve with the trigger's dedup key; a resolve nobody was told about is not sent", async () => {
    const at = new Date();
    const firing = makeAlert({ tenant: "resolve-co", severity: "high", at });
    await publishAlert(js, firing);
    await waitFor("the trigger", async () => forTenant("/pd", "resolve-co")[0], 10_000);
    const resolved = makeAlert({ tenant: "resolve-co", severity: "high", status: "resolved", at: new Date(at.getTime() + 1000) });
    expect(resolved.fingerprint).toBe(firing.fingerprint);
    await publishAlert(js, resolved);
    const resolve = await waitFor(
      "the resolve",
      async () => http.to("/pd").find((r) => r.json.event_action === "resolve" && r.json.dedup_key === firing.fingerprint),
      10_000,
    );
    expect(resolve.json).toEqual({ routing_key: "pd-routing-key-1", event_action: "resolve", dedup_key: firing.fingerprint });
    await waitFor(
      "the resolved Slack message",
      async () => forTenant("/slack/main", "resolve-co").find((r) => r.json.text.includes("RESOLVED")),
      10_000,
    );

    // A resolve of an alert that never fired on these channels stays quiet.
    const orphan = makeAlert({ tenant: "resolve-co", severity: "high", status: "resolved", persona: "never-fired" });
    await publishAlert(js, orphan);
    const rows = await waitFor("the orphan resolve", async () => {
      const r = await logRows("resolve-co");
      return r.filter((x) => x.alert_id === orphan.id).length === 2 ? r : undefined;
    });
    expect(rows.filter((x) => x.alert_id === orphan.id).map((x) => x.reason)).toEqual(["not_notified", "not_notified"]);
  });

  it("repeats a still-firing alert only after the repeat interval, but a more severe one at once", async () => {
    const at = Date.now();
    const first = makeAlert({ tenant: "repeat-co", severity: "medium", at: new Date(at) });
    await publishAlert(js, first);
    await waitFor("the first notification", async () => forTenant("/slack/main", "repeat-co")[0], 10_000);
    // The detector repeats the alert after its cooldown: a new id, the same fingerprint and severity.
    const again = makeAlert({ tenant: "repeat-co", severity: "medium", at: new Date(at + 1000) });
    await publishAlert(js, again);
    const rows = await waitFor("the repeat suppressed", async () => {
      const r = await logRows("repeat-co");
      return r.find((x) => x.alert_id === again.id) ? r : undefined;
    });
    expect(rows.find((x) => x.alert_id === again.id)).toMatchObject({ result: "suppressed", reason: "repeat_interval" });
    // Worse news goes through: the same series, now critical.
    const worse = makeAlert({ tenant: "repeat-co", severity: "critical", at: new Date(at + 2000) });
    expect(worse.fingerprint).toBe(first.fingerprint);
    await publishAlert(js, worse);
    await waitFor(
      "the escalation",
      async () => forTenant("/slack/main", "repeat-co").find((r) => r.json.text.includes("CRITICAL")),
      10_000,
    );
    expect(forTenant("/slack/main", "repeat-co")).toHaveLength(2);
  });

  it("retries a receiver that fails twice, then delivers once, with the same idempotency key", async () => {
    http.on("/hook/flaky", (n) => (n <= 2 ? { status: 503, body: "try later" } : { status: 200 }));
    const a = makeAlert({ tenant: "retry-flaky", severity: "high" });
    await publishAlert(js, a);
    const reqs = await waitFor(
      "three attempts",
      async () => (http.to("/hook/flaky").length >= 3 ? http.to("/hook/flaky") : undefined),
      10_000,
    );
    expect(reqs.map((r) => r.status)).toEqual([503, 503, 200]);
    expect(new Set(reqs.map((r) => r.headers["idempotency-key"])).size).toBe(1);
    // Exponential backoff: the second wait is at least the first wait's minimum, doubled.
    expect(reqs[1]!.at - reqs[0]!.at).toBeGreaterThanOrEqual(70);
    expect(reqs[2]!.at - reqs[1]!.at).toBeGreaterThanOrEqual(140);
    const rows = await waitFor("the log", async () => {
      const r = await logRows("retry-flaky");
      return r.length >= 3 ? r : undefined;
    });
    expect(rows.map((r) => `${r.attempt}:${r.result}`)).toEqual(["1:retried", "2:retried", "3:delivered"]);
    const metrics = await (await fetch(`${stack.info.api_url}/metrics`)).text();
    expect(metrics).toMatch(/costline_notify_deliveries_total\{channel="flaky",result="retried"\} 2/);
    expect(metrics).toMatch(/costline_notify_deliveries_total\{channel="flaky",result="delivered"\} 1/);
    expect(metrics).toMatch(/costline_notify_latency_seconds_count\{channel="flaky"\} 1/);
    await sleep(500);
    expect(http.to("/hook/flaky")).toHaveLength(3);
  });

  it("waits as long as a 429's Retry-After asks before trying again", async () => {
    http.on("/slack/limited", (n) =>
      n === 1 ? { status: 429, headers: { "retry-after": "1" }, body: "rate_limited" } : { status: 200, body: "ok" },
    );
    await publishAlert(js, makeAlert({ tenant: "retry-limited", severity: "medium" }));
    const reqs = await waitFor(
      "two attempts",
      async () => (http.to("/slack/limited").length >= 2 ? http.to("/slack/limited") : undefined),
      10_000,
    );
    expect(reqs.map((r) => r.status)).toEqual([429, 200]);
    expect(reqs[1]!.at - reqs[0]!.at).toBeGreaterThanOrEqual(990);
    const rows = await waitFor("the log", async () => {
      const r = await logRows("retry-limited");
      return r.length >= 2 ? r : undefined;
    });
    expect(rows[0]).toMatchObject({ result: "retried" });
    expect(rows[0]!.reason).toContain("HTTP 429");
  });

  it("dead-letters a delivery after the last retry, with the channel's error", async () => {
    http.on("/hook/broken", () => ({ status: 500, body: "receiver exploded" }));
    const a = makeAlert({ tenant: "retry-broken", severity: "high" });
    await publishAlert(js, a);
    const rec = await waitFor("the DLQ record", async () => dlq.find((d) => d.stage === "notifier" && d.event_id === a.id), 15_000);
    expect(rec.reason).toBe("delivery_failed");
    expect(rec.detail).toContain("broken (webhook) gave up after 3 attempt(s): HTTP 500: receiver exploded");
    expect(JSON.parse(Buffer.from(rec.payload_b64, "base64").toString()).id).toBe(a.id);
    expect(http.to("/hook/broken")).toHaveLength(3);
    const rows = await waitFor("the log", async () => {
      const r = await logRows("retry-broken");
      return r.length >= 3 ? r : undefined;
    });
    expect(rows.map((r) => r.result)).toEqual(["retried", "retried", "failed"]);
  });

  it("does not deliver an alert twice when it is published again", async () => {
    const a = makeAlert({ tenant: "hooked-dup", severity: "medium" });
    await publishAlert(js, a);
    await waitFor("the first delivery", async () => forTenant("/hook/main", "hooked-dup")[0], 10_000);
    // The same alert again, past JetStream's duplicate detection (another message id), as after a detector restart.
    await publishAlert(js, a, `again:${a.id}`);
    await sleep(1200);
    expect(forTenant("/hook/main", "hooked-dup")).toHaveLength(1);
    expect(forTenant("/slack/main", "hooked-dup")).toHaveLength(1);
  });

  it("resends under the same idempotency key when a notifier died between the receiver's answer and recording it", async () => {
    const a = makeAlert({ tenant: "hooked-crash", severity: "medium" });
    // What a notifier that died right after its request leaves behind: a claim, its lease run out.
    // Delivery state is the pipeline's to write (the operator may not).
    pipelineNc ??= await connectStack(stack, "pipeline");
    const kv = await new Kvm(pipelineNc).open(notifyBuckets.state);
    await kv.create(
      deliveryKey("hook", a.id),
      JSON.stringify({
        state: "sending",
        notification_id: "0123456789abcdef0123456789abcdef",
        owner: "dead-host:1:x",
        lease_until: Date.now() - 1,
        attempts: 1,
        reason: "",
        updated_at: new Date().toISOString(),
      }),
    );
    await publishAlert(js, a);
    const req = await waitFor("the resend", async () => forTenant("/hook/main", "hooked-crash")[0], 10_000);
    expect(req.headers["idempotency-key"]).toBe("0123456789abcdef0123456789abcdef");
    await waitFor("the claim recorded as delivered", async () => {
      const e = await kv.get(deliveryKey("hook", a.id));
      return e?.json<{ state: string; attempts: number }>().state === "delivered" ? true : undefined;
    });
    const e = await kv.get(deliveryKey("hook", a.id));
    expect(e!.json<{ attempts: number }>().attempts).toBe(2);

    // A channel set to `on_uncertain: skip` does not resend: the delivery is dead-lettered for a person to check.
    const b = makeAlert({ tenant: "cautious-co", severity: "medium" });
    await kv.create(
      deliveryKey("cautious", b.id),
      JSON.stringify({
        state: "sending",
        notification_id: "fedcba9876543210fedcba9876543210",
        owner: "dead-host:1:x",
        lease_until: Date.now() - 1,
        attempts: 1,
        reason: "",
        updated_at: new Date().toISOString(),
      }),
    );
    await publishAlert(js, b);
    const rec = await waitFor("the DLQ record", async () => dlq.find((d) => d.event_id === b.id), 10_000);
    expect(rec.detail).toContain("not resent (on_uncertain: skip)");
    expect(http.to("/hook/cautious")).toHaveLength(0);
  });
});
