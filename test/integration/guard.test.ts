// The guard on a real NATS KV bucket: controls written to costline-controls
// reach a guard within moments; throttle, degrade and pause behave as
// specified; an override expires on time; a guard that loses its connection
// keeps its last known controls and says so.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { loadConfig } from "../../pipeline/config/config.ts";
import { connectNats } from "../../pipeline/nats/connect.ts";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { applyTopology } from "../../pipeline/nats/topology.ts";
import { createGuard, putControl, controlKvKey, type Guard } from "../../pipeline/guard/guard.ts";
import type { Control } from "../../schemas/index.ts";
import { tempHome, waitFor } from "../helpers/stack-process.ts";

const home = tempHome("costline-guard-");
let server: EmbeddedNats;
let nc: NatsConnection;
let kv: KV;
let guard: Guard;

const control = (c: Partial<Control> & Pick<Control, "scope" | "state">): Control => ({
  reason: "test",
  set_by: "test",
  set_at: new Date().toISOString(),
  probe_every_s: 30,
  ...c,
});

beforeAll(async () => {
  const config = loadConfig({ COSTLINE_HOME: home });
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
  nc = await connectNats({ ...config.nats, url: server.url }, "test");
  await applyTopology(nc, await jetstreamManager(nc), config);
  kv = await new Kvm(nc).open("costline-controls");
  await putControl(kv, control({ scope: { tenant: "preset" }, state: "degraded", model_map: { "gpt-4o": "gpt-4o-mini" } }));
  guard = await createGuard({ servers: server.url });
  await guard.ready;
});
afterAll(async () => {
  await guard?.close();
  await nc?.close();
  await server?.stop();
});

describe("guard", () => {
  it("starts from the controls already in the bucket", () => {
    expect(guard.check({ tenant: "preset", model: "gpt-4o" })).toMatchObject({ allow: true, model: "gpt-4o-mini", state: "degraded" });
    expect(guard.check({ tenant: "anyone", model: "gpt-4o" })).toMatchObject({
      allow: true,
      model: "gpt-4o",
      state: "closed",
      stale: false,
    });
  });

  it("throttles a persona to its requests per minute", async () => {
    await putControl(
      kv,
      control({ scope: { tenant: "acme", persona_id: "ai_jesus" }, state: "throttled", throttle: { requests_per_minute: 2 } }),
    );
    // The check that first sees the control is the first request of the minute.
    await waitFor("the control to arrive", async () =>
      guard.check({ tenant: "acme", persona: "ai_jesus", model: "m" }).state === "throttled" ? true : undefined,
    );
    expect(guard.check({ tenant: "acme", persona: "ai_jesus", model: "m" }).allow).toBe(true);
    const third = guard.check({ tenant: "acme", persona: "ai_jesus", model: "m" });
    expect(third).toMatchObject({ allow: false, state: "throttled" });
    expect(third.waitMs).toBeGreaterThan(0);
    expect(guard.check({ tenant: "acme", persona: "other", model: "m" }).allow).toBe(true); // other personas are not throttled
  });

  it("pauses a scope until a time, then lets one probe through (half-open)", async () => {
    const until = new Date(Date.now() + 1500).toISOString();
    await putControl(kv, control({ scope: { tenant: "globex", feature: "agent" }, state: "open", paused_until: until, probe_every_s: 60 }));
    const paused = await waitFor("pause", async () => {
      const d = guard.check({ tenant: "globex", feature: "agent", model: "m" });
      return d.state === "open" && !d.allow ? d : undefined;
    });
    expect(paused.waitMs).toBeGreaterThan(0);
    expect(paused.waitMs).toBeLessThanOrEqual(1500);
    await new Promise((r) => setTimeout(r, Date.parse(until) - Date.now() + 50));
    expect(guard.check({ tenant: "globex", feature: "agent", model: "m" })).toMatchObject({ allow: true, reason: "probe: test" });
    expect(guard.check({ tenant: "globex", feature: "agent", model: "m" }).allow).toBe(false); // one probe per interval
  });

  it("drops a manual override when it expires, and a deleted control at once", async () => {
    await putControl(
      kv,
      control({
        scope: { tenant: "initech" },
        state: "open",
        reason: "manual: incident 42",
        expires_at: new Date(Date.now() + 1000).toISOString(),
      }),
    );
    await waitFor("override", async () => (guard.check({ tenant: "initech", model: "m" }).allow === false ? true : undefined));
    await new Promise((r) => setTimeout(r, 1100));
    expect(guard.check({ tenant: "initech", model: "m" })).toMatchObject({ allow: true, state: "closed" });

    await putControl(kv, control({ scope: { tenant: "umbrella", model: "gpt-4o" }, state: "open" }));
    await waitFor("model pause", async () => (guard.check({ tenant: "umbrella", model: "gpt-4o" }).allow === false ? true : undefined));
    expect(guard.check({ tenant: "umbrella", model: "gpt-4o-mini" }).allow).toBe(true);
    await kv.delete(controlKvKey({ tenant: "umbrella", model: "gpt-4o" }));
    await waitFor("removal", async () => (guard.check({ tenant: "umbrella", model: "gpt-4o" }).allow ? true : undefined));
  });

  it("keeps its last known controls when NATS goes away, and says so", async () => {
    await server.stop();
    await waitFor("the guard to notice", async () => (guard.stale() ? true : undefined), 15_000);
    expect(guard.check({ tenant: "preset", model: "gpt-4o" })).toMatchObject({ model: "gpt-4o-mini", state: "degraded", stale: true });
  });
});
