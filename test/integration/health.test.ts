// Health and readiness on real parts: a stage that nobody runs stalls its
// consumer and readiness turns degraded (still ready, with the consumer named),
// running the stages brings it back to healthy; nats-server killed turns it
// unhealthy (503) and restarted on the same port healthy again.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { createProducer } from "../../pipeline/producer/producer.ts";
import { freePort, startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { costEvent, tenants, amountFor } from "../helpers/events.ts";
import { cliPath, repoRoot, startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

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
const until = (what: string, url: string, ok: (r: Ready) => boolean) =>
  waitFor(what, async () => {
    const r = await readyz(url).catch(() => undefined);
    return r && ok(r) ? r : undefined;
  }, 30_000);

describe("health and readiness", () => {
  it("turns degraded when a consumer stalls, unhealthy without NATS, and back each time", async () => {
    const port = await freePort();
    const natsOpts = { bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log"), port };
    let nats: EmbeddedNats = await startEmbeddedNats(natsOpts);
    cleanup.push(() => nats.stop());
    const env = { NATS_URL: nats.url, COSTLINE_HEALTH_STALL_S: "2", COSTLINE_HEALTH_POLL_MS: "250" };

    // Only enrich runs: priced events pile up for the ledger and the windower, which nobody runs.
    const apiPort = await freePort();
    const enrichOnly: ChildProcess = spawn(process.execPath, [cliPath, "run", "enrich"], {
      cwd: repoRoot,
      env: { ...process.env, ...env, COSTLINE_HOME: home, COSTLINE_API_PORT: String(apiPort), COSTLINE_LOG_LEVEL: "warn" },
      stdio: "ignore",
    });
    cleanup.push(async () => enrichOnly.kill("SIGKILL"));
    const url = `http://127.0.0.1:${apiPort}`;
    const first = await until("a healthy start", url, (r) => r.status === "healthy");
    expect(first.code).toBe(200);
    expect(first.checks.map((c) => c.name)).toEqual(expect.arrayContaining(["nats", "streams", "clickhouse", "consumer:enrich", "consumer:ledger"]));

    const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    cleanup.push(() => nc.close());
    await (await createProducer({ nc })).publish(Array.from({ length: 40 }, (_, i) => costEvent(i, tenants[i % 4]!, amountFor(i), "test/health")));
    const stalled = await until("the ledger consumer stalled", url, (r) => r.status === "degraded");
    expect(stalled.code).toBe(200); // degraded is still ready
    expect(stalled.checks.find((c) => c.name === "consumer:ledger")).toMatchObject({ status: "degraded", detail: expect.stringMatching(/^stalled: [1-9]\d* messages waiting, no delivery for \d+ s$/) }); // one priced message per tenant
    expect(stalled.checks.find((c) => c.name === "consumer:enrich")!.status).toBe("healthy");
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/costline_consumer_pending_messages\{stage="ledger",stream="COSTLINE_PRICED"\} [1-9]/);
    expect(metrics).toMatch(/costline_health_status\{check="consumer:ledger"\} 1/);

    // Every stage running: the backlog drains and health comes back.
    enrichOnly.kill("SIGTERM");
    await new Promise((r) => enrichOnly.once("exit", r));
    const stack: StackProcess = await startStack(home, env);
    cleanup.push(() => (stack.child.exitCode === null ? stack.kill() : Promise.resolve()));
    const back = await until("healthy again", stack.info.api_url, (r) => r.status === "healthy");
    expect(back.checks.every((c) => c.status === "healthy")).toBe(true);

    // No NATS: unhealthy, not ready; NATS back on the same port: healthy.
    process.kill(nats.pid, "SIGKILL");
    const down = await until("unhealthy without NATS", stack.info.api_url, (r) => r.status === "unhealthy");
    expect(down.code).toBe(503);
    expect(down.checks.find((c) => c.name === "nats")!.status).toBe("unhealthy");
    nats = await startEmbeddedNats(natsOpts);
    await until("healthy after NATS returns", stack.info.api_url, (r) => r.status === "healthy");
    expect(await stack.stop()).toBe(0);
  }, 180_000);
});
