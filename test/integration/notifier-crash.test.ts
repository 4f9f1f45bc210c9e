// A notifier killed (SIGKILL) in the middle of a delivery — its request sent,
// no answer yet — delivers exactly once after `costline up` is started again
// on the same $COSTLINE_HOME: the alert comes back after the notifier's ack
// wait, the stale claim is resent under the same idempotency key, the receiver
// answers it, and nothing more is sent.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStack } from "../helpers/stack-nats.ts";
import { jetstream } from "@nats-io/jetstream";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";
import { makeAlert, publishAlert, startHttpReceivers } from "./notifier-receivers.ts";

let http: Awaited<ReturnType<typeof startHttpReceivers>>;
let stack: StackProcess | undefined;
let home: string;
let env: Record<string, string>;

beforeAll(async () => {
  http = await startHttpReceivers();
  home = tempHome("costline-notifier-crash-");
  const file = path.join(home, "notify.json");
  writeFileSync(
    file,
    JSON.stringify({
      notify: {
        channels: {
          hook: { type: "webhook", url: `${http.base}/hook/crash` },
          pd: { type: "pagerduty", routing_key: "rk", url: `${http.base}/pd/crash` },
        },
        route: { group_wait: "100ms", routes: [{ matchers: ["tenant=crash-co"], channels: ["hook", "pd"] }] },
        retry: { attempts: 5, initial: "200ms", timeout: "1500ms" },
      },
    }),
  );
  env = { COSTLINE_CONFIG: file, COSTLINE_NOTIFY_ACK_WAIT_S: "2" };
});

afterAll(async () => {
  if (stack?.child.exitCode === null) await stack.stop();
  await http?.close();
});

describe("notifier crash", () => {
  it("delivers once after a SIGKILL mid-delivery", async () => {
    // The first request on each channel hangs: the notifier is killed while waiting for the answer.
    http.on("/hook/crash", (n) => (n === 1 ? { status: 0, hold: true } : { status: 200 }));
    http.on("/pd/crash", (n) => (n === 1 ? { status: 0, hold: true } : { status: 202, body: '{"status":"success"}' }));
    stack = await startStack(home, env);
    const nc = await connectStack(stack);
    const alert = makeAlert({ tenant: "crash-co", severity: "critical" });
    await publishAlert(jetstream(nc), alert);
    await waitFor(
      "both requests in flight",
      async () => (http.to("/hook/crash").length && http.to("/pd/crash").length ? true : undefined),
      10_000,
    );
    await nc.close();
    await stack.kill();

    const restartedAt = Date.now();
    stack = await startStack(home, env);
    const answered = await waitFor(
      "the resent deliveries",
      async () => {
        const h = http.to("/hook/crash").filter((r) => r.status === 200);
        const p = http.to("/pd/crash").filter((r) => r.status === 202);
        return h.length && p.length ? { h, p } : undefined;
      },
      30_000,
    );
    expect(Date.now() - restartedAt).toBeLessThan(25_000);
    // Quiet afterwards: no third request on either channel.
    await new Promise((r) => setTimeout(r, 3000));
    const hook = http.to("/hook/crash");
    const pd = http.to("/pd/crash");
    expect(hook).toHaveLength(2);
    expect(pd).toHaveLength(2);
    // Both requests of a channel carry the same key, so the receiver can tell the resend from news:
    // the webhook's Idempotency-Key, PagerDuty's dedup_key (the fingerprint).
    expect(hook[1]!.headers["idempotency-key"]).toBe(hook[0]!.headers["idempotency-key"]);
    expect(answered.p[0]!.json).toMatchObject({ event_action: "trigger", dedup_key: alert.fingerprint });
    expect(pd[0]!.json.dedup_key).toBe(alert.fingerprint);
    // Exactly one delivered row per channel in the log of the restarted stack.
    const rows = await waitFor("the log", async () => {
      const r = await stack!.sql<{ channel: string; result: string; attempt: number }>(
        `SELECT channel, result, attempt FROM costline.notification_log WHERE alert_id = '${alert.id}' AND result = 'delivered' ORDER BY channel`,
      );
      return r.length >= 2 ? r : undefined;
    });
    expect(rows.map((r) => r.channel)).toEqual(["hook", "pd"]);
    expect(rows.every((r) => r.attempt === 2)).toBe(true);
    // And a clean stop still works with the notifier holding nothing.
    expect(await stack.stop()).toBe(0);
  });
});
