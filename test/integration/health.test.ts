// Health, readiness and metrics on real parts, two processes the way a
// deployment runs them: the API with every stage but enrich, and enrich run
// alone (serving only /metrics, /healthz and /readyz, never opening
// ClickHouse). Freezing the enrich process (SIGSTOP) stalls its consumer and
// the API's readiness turns degraded (still ready, the consumer named);
// resuming it drains the backlog into the ledger and health comes back.
// nats-server killed turns both unhealthy (503); restarted on the same port,
// both are healthy again.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { createProducer } from "../../pipeline/producer/producer.ts";
import { freePort, startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { costEvent, tenants, amountFor } from "../helpers/events.ts";
import { cliPath, getJson, repoRoot, tempHome, waitFor } from "../helpers/stack-process.ts";

type Check = { name: string; status: string; detail: string };
type Ready = { code: number; status: string; checks: Check[] };

const home = tempHome("costline-health-");
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

async function readyz(url: string): Promise<Ready> {
  const res = await fetch(`${url}/readyz`);
  const body = (await res.json()) as { status: string; checks: Check[] };
  return { code: res.status, ...body };
}
const until = (what: string, url: string, ok: (r: Ready) => boolean, timeoutMs = 30_000) =>
  waitFor(
    what,
    async () => {
      const r = await readyz(url).catch(() => undefined);
      return r && ok(r) ? r : undefined;
    },
    timeoutMs,
  );
const metricsOf = async (url: string) => (await fetch(`${url}/metrics`)).text();

function run(args: string[], env: Record<string, string>): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [cliPath, "run", ...args], {
    cwd: repoRoot,
    env: { ...process.env, COSTLINE_HOME: home, COSTLINE_LOG_LEVEL: "warn", ...env },
    stdio: "ignore",
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  cleanup.push(async () => {
    if (child.exitCode === null) {
      child.kill("SIGCONT");
      child.kill("SIGKILL");
    }
  });
  return { child, exited };
}

describe("health and readiness", () => {
  it("turns degraded when a stage process stalls, unhealthy without NATS, and back each time", async () => {
    const port = await freePort();
    const natsOpts = { bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log"), port };
    let nats: EmbeddedNats = await startEmbeddedNats(natsOpts);
    cleanup.push(() => nats.stop());
    // A short ack wait: messages the frozen process pulled come back (redelivered) soon.
    const env = {
      NATS_URL: nats.url,
      COSTLINE_HEALTH_STALL_S: "2",
      COSTLINE_HEALTH_POLL_MS: "250",
      COSTLINE_ACK_WAIT_S: "5",
      COSTLINE_METRICS_MAX_TENANTS: "2",
    };

    // The API and every stage but enrich, on the embedded ClickHouse under $COSTLINE_HOME.
    const apiPort = await freePort();
    const api = run(["--api", "ledger", "windower", "detector", "alert-store", "allocator", "notifier"], {
      ...env,
      COSTLINE_API_PORT: String(apiPort),
    });
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    // Healthy, and every partitioned stage's loops started as its leases came (healthy alone can come first).
    const wanted = [
      "loop:alert-store",
      "loop:notifier",
      "loop:detector-p0",
      "loop:detector-posts-p0",
      "loop:ledger-p0",
      "loop:windower-p0",
    ];
    const first = await until(
      "the API process healthy with every stage's loops",
      apiUrl,
      (r) => r.status === "healthy" && wanted.every((w) => r.checks.some((c) => c.name === w)),
      90_000,
    );
    expect(first.code).toBe(200);
    // Each stage loop has its own check (its partitions' loops as their leases come): all running.
    const loops = first.checks.filter((c) => c.name.startsWith("loop:"));
    expect(loops.map((c) => c.name)).toEqual(expect.arrayContaining(wanted));
    for (const l of loops)
      expect(l).toMatchObject({ name: expect.stringMatching(/^loop:[a-z-]+(-p\d)?$/), status: "healthy", detail: "running" });
    expect(
      first.checks
        .map((c) => c.name)
        .filter((n) => !n.startsWith("loop:"))
        .sort(),
    ).toEqual(
      [
        "clickhouse",
        "consumer:alert-store",
        "consumer:enrich",
        // One consumer per partition of the priced subjects (COSTLINE_PARTITIONS, 8 by default), and the detector's two per partition of the windows.
        ...Array.from({ length: 8 }, (_, p) => [
          `consumer:ledger-p${p}`,
          `consumer:windower-p${p}`,
          `consumer:detector-p${p}`,
          `consumer:detector-posts-p${p}`,
        ]).flat(),
        "consumer:notifier",
        "nats",
        "streams",
      ].sort(),
    );
    // Every API answer carries a request id: the caller's when it is plain, else a new one.
    expect((await fetch(`${apiUrl}/healthz`, { headers: { "x-request-id": "probe-42" } })).headers.get("x-request-id")).toBe("probe-42");
    expect((await fetch(`${apiUrl}/healthz`, { headers: { "x-request-id": "not plain {}" } })).headers.get("x-request-id")).toMatch(
      /^[0-9a-f-]{36}$/,
    );
    const adminKey = readFileSync(path.join(home, "admin.key"), "utf8").trim();
    const totals = () => getJson<{ events: number }>(`${apiUrl}/v1/totals`, adminKey);

    // enrich alone, on the same $COSTLINE_HOME: it must not open the embedded ClickHouse the API process holds.
    // Without COSTLINE_METRICS_PORT its ops routes take the API port it does not otherwise use.
    const enrichPort = await freePort();
    const enrich = run(["enrich"], { ...env, COSTLINE_API_PORT: String(enrichPort) });
    const enrichUrl = `http://127.0.0.1:${enrichPort}`;
    const alone = await until("the enrich process healthy", enrichUrl, (r) => r.status === "healthy", 60_000);
    expect(alone.checks.map((c) => c.name)).toEqual(["nats", "streams", "consumer:enrich", "loop:enrich"]);
    expect((await fetch(`${enrichUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${enrichUrl}/v1/totals`)).status).toBe(404); // no API here

    const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    cleanup.push(() => nc.close());
    const producer = await createProducer({ nc });
    // Events of now, so the ledger's freshness histogram sees them (older ones count as backfills).
    const batch = (from: number) =>
      Array.from({ length: 40 }, (_, i) => ({
        ...costEvent(from + i, tenants[i % 4]!, amountFor(from + i), "test/health"),
        time: new Date().toISOString(),
      }));
    await producer.publish(batch(0));
    await waitFor("40 events in the ledger", async () => ((await totals()).events >= 40 ? true : undefined));

    // The enrich process frozen: events wait on its consumer, which stops moving.
    process.kill(enrich.child.pid!, "SIGSTOP");
    await producer.publish(batch(40));
    // Waited for by the enrich check itself: on a loaded machine another consumer can lag past its
    // threshold for a moment first, and the overall status alone would catch that instead.
    const stalled = await until(
      "the enrich consumer stalled",
      apiUrl,
      (r) => r.status === "degraded" && r.checks.filter((c) => c.status !== "healthy").every((c) => c.name === "consumer:enrich"),
      60_000,
    );
    expect(stalled.code).toBe(200); // degraded is still ready
    expect(stalled.checks.find((c) => c.name === "consumer:enrich")).toMatchObject({
      status: "degraded",
      // Its pulled messages came back unacknowledged; new ones wait undelivered (whichever the poll sees first).
      detail: expect.stringMatching(
        /^stalled: [1-9]\d* messages (waiting, no delivery|handed out and [1-9]\d* redelivered, none acknowledged) for \d+ s$/,
      ),
    });
    expect(stalled.checks.filter((c) => c.status !== "healthy").map((c) => c.name)).toEqual(["consumer:enrich"]);
    const frozen = await metricsOf(apiUrl);
    expect(frozen).toMatch(/costline_consumer_pending_messages\{stage="enrich",stream="COSTLINE_EVENTS"\} [1-9]/);
    expect(frozen).toMatch(/costline_health_status\{check="consumer:enrich"\} 1\b/);

    // Resumed: the backlog drains into the ledger and health comes back.
    process.kill(enrich.child.pid!, "SIGCONT");
    const back = await until("healthy again", apiUrl, (r) => r.status === "healthy");
    expect(back.checks.every((c) => c.status === "healthy")).toBe(true);
    await waitFor("80 events in the ledger", async () => ((await totals()).events === 80 ? true : undefined));

    // Each process's /metrics: the stage's own counters there, the ledger's inserts timed and cost by bounded tenants in the API's.
    // The gauge is set by the process's health poll: the pass after the backlog drained reads 0.
    const enrichMetrics = await waitFor("enrich's pending gauge back to 0", async () => {
      const text = await metricsOf(enrichUrl);
      return /costline_consumer_pending_messages\{stage="enrich",stream="COSTLINE_EVENTS"\} 0\n/.test(text) ? text : undefined;
    });
    expect(enrichMetrics).toMatch(/costline_stage_messages_total\{stage="enrich",outcome="ack"\} [1-9]/);
    expect(enrichMetrics).not.toMatch(/check="clickhouse"/);
    // The ledger's rows can be visible to /v1/totals before the sink's insert call returns (its flushes took
    // up to 5 s under load, the rollups' views included); the sink counts an event as inserted, and observes its
    // freshness, once the insert has returned, so wait for that before reading the histogram.
    const apiMetrics = await waitFor("the ledger sink's 80 inserts returned", async () => {
      const text = await metricsOf(apiUrl);
      return /costline_stage_events_total\{stage="ledger",result="inserted"\} 80\n/.test(text) ? text : undefined;
    });
    expect(apiMetrics).toMatch(/costline_clickhouse_insert_seconds_count\{table="ledger"\} [1-9]/);
    // Freshness is observed once per event this process inserted: exactly the 80.
    expect(apiMetrics).toMatch(/^costline_ledger_freshness_seconds_count 80$/m);
    const costTenants = new Set([...apiMetrics.matchAll(/costline_cost_usd_total\{tenant="([^"]*)",model="cost"\}/g)].map((m) => m[1]));
    expect(costTenants.size).toBe(3); // COSTLINE_METRICS_MAX_TENANTS=2, four tenants: two by name, the rest "other"
    expect(costTenants.has("other")).toBe(true);

    // No NATS: both unhealthy, not ready; NATS back on the same port: both healthy.
    // Once the client has seen the connection drop, a probe answers from that, without waiting out a timeout.
    process.kill(nats.pid, "SIGKILL");
    const disconnected = (r: Ready) => r.checks.find((c) => c.name === "nats")?.detail.startsWith("disconnected for") === true;
    const down = await until("the API's NATS check disconnected", apiUrl, disconnected);
    expect(down.code).toBe(503);
    expect(down.status).toBe("unhealthy");
    expect(down.checks.find((c) => c.name === "nats")).toMatchObject({
      status: "unhealthy",
      detail: expect.stringMatching(/^disconnected for \d+ s, reconnecting$/),
    });
    expect(down.checks.find((c) => c.name === "streams")).toEqual({
      name: "streams",
      status: "unhealthy",
      detail: "not checked: NATS is disconnected",
    });
    expect(down.checks.find((c) => c.name === "clickhouse")!.status).toBe("healthy");
    expect((await until("enrich's NATS check disconnected", enrichUrl, disconnected)).code).toBe(503);
    nats = await startEmbeddedNats(natsOpts);
    await until("the API healthy after NATS returns", apiUrl, (r) => r.status === "healthy");
    await until("enrich healthy after NATS returns", enrichUrl, (r) => r.status === "healthy");

    enrich.child.kill("SIGTERM");
    api.child.kill("SIGTERM");
    expect(await enrich.exited).toBe(0);
    expect(await api.exited).toBe(0);
  }, 480_000); // 10 s in an ordinary run; every wait has its own deadline, and on a loaded machine they add up
});
