// dispatchGroup as a function of its inputs: a group of alerts, the delivery
// state found, and a channel's answers, with the state store, the lock, the
// delivery log and the dead-letter writer in memory. What it must show: one
// notification per group, nothing sent twice on a redelivery, a muted alert
// recorded as suppressed, and a channel that keeps failing dead-lettered
// through the writer it is handed (the runner's one DLQ path).
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { JsMsg } from "@nats-io/jetstream";
import type { Alert, DeliveryRecord, DeliveryState, FingerprintState } from "../../schemas/index.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import type { Channel, Notification } from "../../pipeline/notify/channel.ts";
import { ClaimLostError, type createDeliveryStore } from "../../pipeline/notify/delivery-state.ts";
import type { DeliveryLog } from "../../pipeline/notify/delivery-log.ts";
import { dispatchGroup, type ChannelResult, type DispatchDeps, type GroupItem, type GroupTarget } from "../../pipeline/notify/dispatch.ts";
import { createKeyedLock } from "../../pipeline/notify/keyed-lock.ts";
import { createNotifyMetrics } from "../../pipeline/notify/notify-metrics.ts";
import { DeliveryError } from "../../pipeline/notify/retry.ts";
import { makeAlert } from "../integration/notifier-receivers.ts";

type Store = ReturnType<typeof createDeliveryStore>;

/** The delivery store's contract in memory: create only once, update only at the current revision. */
function memoryStore() {
  const deliveries = new Map<string, { value: DeliveryState; revision: number }>();
  const fingerprints = new Map<string, FingerprintState>();
  let rev = 0;
  const store = {
    get: async (ch: string, id: string) => deliveries.get(`${ch}/${id}`) ?? null,
    async create(ch: string, id: string, state: DeliveryState) {
      if (deliveries.has(`${ch}/${id}`)) return null;
      deliveries.set(`${ch}/${id}`, { value: state, revision: ++rev });
      return rev;
    },
    async update(ch: string, id: string, state: DeliveryState, revision: number) {
      const cur = deliveries.get(`${ch}/${id}`);
      if (!cur || cur.revision !== revision) throw new ClaimLostError(`claim on ${ch}/${id} was taken over`);
      deliveries.set(`${ch}/${id}`, { value: state, revision: ++rev });
      return rev;
    },
    getFingerprint: async (ch: string, fp: string) => fingerprints.get(`${ch}/${fp}`) ?? null,
    async putFingerprint(ch: string, fp: string, state: FingerprintState) {
      fingerprints.set(`${ch}/${fp}`, state);
    },
  };
  return { store: store as unknown as Store, deliveries };
}

function channel(answer: (n: Notification) => Promise<{ status: number }>): Channel & { sent: Notification[] } {
  const sent: Notification[] = [];
  return {
    name: "ops",
    type: "webhook",
    batchable: true,
    sendResolved: true,
    onUncertain: "resend",
    sent,
    send: async (n) => {
      sent.push(n);
      return answer(n);
    },
  };
}

const group: GroupTarget = { key: "g1", channel: "ops", labels: { tenant: "acme" }, repeatIntervalMs: 3_600_000 };

function setup(ch: Channel, opts: { silenced?: boolean } = {}) {
  const { store, deliveries } = memoryStore();
  const rows: DeliveryRecord[] = [];
  const deadLetters: { alert: string; detail: string }[] = [];
  const stop = new AbortController();
  const deps: DispatchDeps = {
    channel: ch,
    store,
    silencedBy: () => (opts.silenced ? { id: "s-1" } : undefined),
    inhibitedBy: () => undefined,
    deliveryLog: { write: async (r: DeliveryRecord[]) => void rows.push(...r) } as unknown as DeliveryLog,
    metrics: createNotifyMetrics(new Registry()),
    locks: createKeyedLock(),
    log: createLogger("silent"),
    owner: "me",
    retry: { attempts: 2, initial: 1, max: 2, max_retry_after: 10, timeout: 1000 },
    deadLetter: async (item, detail) => void deadLetters.push({ alert: item.alert.id, detail }),
    stopSignal: stop.signal,
    requestSignal: stop.signal,
  };
  return { deps, deliveries, rows, deadLetters };
}

/** Items of a group as the scheduler hands them over, each with the result its message is settled by. */
function items(alerts: Alert[]): { list: GroupItem[]; results: ChannelResult[][] } {
  const results: ChannelResult[][] = alerts.map(() => []);
  const list = alerts.map((alert, i): GroupItem => ({
    id: alert.id,
    target: group,
    alert,
    labels: { tenant: alert.tenant },
    msg: {} as JsMsg,
    publishedAtMs: Date.now(),
    settle: [(r) => void results[i]!.push(r)],
  }));
  return { list, results };
}

const at = (m: number) => new Date(Date.UTC(2026, 10, 22, 10, m));

describe("dispatchGroup", () => {
  it("sends a group as one notification, records each alert delivered, and settles every message", async () => {
    const ch = channel(async () => ({ status: 200 }));
    const { deps, deliveries, rows } = setup(ch);
    const alerts = [makeAlert({ tenant: "acme", persona: "a", at: at(1) }), makeAlert({ tenant: "acme", persona: "b", at: at(2) })];
    const { list, results } = items(alerts);
    expect(await dispatchGroup(deps, group, list)).toBe(true);
    expect(ch.sent).toHaveLength(1);
    expect(ch.sent[0]!.alerts.map((a) => a.id)).toEqual(alerts.map((a) => a.id));
    expect([...deliveries.values()].map((d) => d.value.state)).toEqual(["delivered", "delivered"]);
    expect(rows.map((r) => r.result)).toEqual(["delivered", "delivered"]);
    expect(results).toEqual([[{ ok: true }], [{ ok: true }]]);
  });

  it("sends nothing again for a redelivered alert already delivered (exactly once per alert and channel)", async () => {
    const ch = channel(async () => ({ status: 200 }));
    const { deps } = setup(ch);
    const alert = makeAlert({ tenant: "acme", at: at(3) });
    await dispatchGroup(deps, group, items([alert]).list);
    const again = items([alert]);
    expect(await dispatchGroup(deps, group, again.list)).toBe(false);
    expect(ch.sent).toHaveLength(1);
    expect(again.results).toEqual([[{ ok: true }]]);
  });

  it("records a silenced alert as suppressed without sending it", async () => {
    const ch = channel(async () => ({ status: 200 }));
    const { deps, deliveries, rows } = setup(ch, { silenced: true });
    const { list, results } = items([makeAlert({ tenant: "acme", at: at(4) })]);
    expect(await dispatchGroup(deps, group, list)).toBe(false);
    expect(ch.sent).toHaveLength(0);
    expect([...deliveries.values()][0]!.value.state).toBe("suppressed");
    expect(rows.map((r) => r.result)).toEqual(["suppressed"]);
    expect(results).toEqual([[{ ok: true }]]);
  });

  it("dead-letters each alert through the writer it is handed once the channel gave up, then settles it", async () => {
    const ch = channel(async () => Promise.reject(new DeliveryError("503 from receiver", { retryable: true, status: 503 })));
    const { deps, deliveries, deadLetters } = setup(ch);
    const alerts = [makeAlert({ tenant: "acme", persona: "a", at: at(5) }), makeAlert({ tenant: "acme", persona: "b", at: at(5) })];
    const { list, results } = items(alerts);
    await dispatchGroup(deps, group, list);
    expect(ch.sent).toHaveLength(2); // both attempts of the one notification
    expect(deadLetters.map((d) => d.alert).sort()).toEqual(alerts.map((a) => a.id).sort());
    expect(deadLetters[0]!.detail).toMatch(/ops \(webhook\) gave up after 2 attempt\(s\): 503 from receiver/);
    expect([...deliveries.values()].map((d) => d.value.state)).toEqual(["failed", "failed"]);
    expect(results).toEqual([[{ ok: true }], [{ ok: true }]]);
  });

  it("asks for a redelivery, sending nothing, when the state store is unavailable", async () => {
    const ch = channel(async () => ({ status: 200 }));
    const { deps } = setup(ch);
    deps.store = { ...deps.store, getFingerprint: async () => Promise.reject(new Error("KV down")) } as Store;
    const { list, results } = items([makeAlert({ tenant: "acme", at: at(6) })]);
    expect(await dispatchGroup(deps, group, list)).toBe(false);
    expect(ch.sent).toHaveLength(0);
    expect(results[0]![0]).toMatchObject({ ok: false, error: { reason: "unavailable", message: expect.stringMatching(/KV down/) } });
  });
});
