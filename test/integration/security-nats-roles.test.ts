// NATS roles on the embedded server of a real `costline up --demo`: nothing
// anonymous; a tenant's producer (issued with `costline keys create --tenant T
// --nats`) publishes only to its own events subject and reads only its own
// controls and budgets — no other tenant's subject, no priced, windows, alerts
// or DLQ subject, no KV write, no stream created or deleted, no other tenant's
// priced events, no forged alert; the all-tenants producer of stack.json
// (`costline publish`), the pipeline and the operator (`costline dlq`) do
// their jobs; an event naming another tenant than its subject lands in the DLQ
// as tenant_mismatch; a revoked user is refused; and the users outlive a
// restart, a SIGKILL included.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { createProducer } from "../../pipeline/producer/producer.ts";
import { createGuard } from "../../pipeline/guard/guard.ts";
import { natsAuthOptions } from "../../pipeline/nats/connect.ts";
import { natsAuthPaths } from "../../pipeline/nats/credentials.ts";
import { createSubjects, kvBuckets, kvToken } from "../../pipeline/nats/subjects.ts";
import { notifyBuckets } from "../../pipeline/notify/kv-buckets.ts";
import { costEvent } from "../helpers/events.ts";
import { runCli } from "../helpers/cli-process.ts";
import { connectStack, stackCredentials } from "../helpers/stack-nats.ts";
import { startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

const home = tempHome("costline-nats-roles-");
const subjects = createSubjects("costline");
const TENANT = "roles-acme";
const OTHER = "roles globex/é"; // escaped in subjects and KV keys
let stack: StackProcess;
let producer: { nats_user: string; nats_password: string; subject: string };
let pnc: NatsConnection;
const opened: NatsConnection[] = [];

const cli = (...args: string[]) => runCli(args, { COSTLINE_HOME: home }, 90_000);

async function as(user: string, password: string): Promise<NatsConnection> {
  const nc = await connect({ servers: stack.info.nats_url, ...natsAuthOptions({ user, password }), reconnect: false });
  opened.push(nc);
  return nc;
}

/** The server answers a forbidden publish or request with a permissions violation. */
async function refused(what: Promise<unknown>): Promise<void> {
  await expect(what).rejects.toThrow(/Permissions Violation/);
}

/** A forbidden subscription: the server says so (an async error), and the subscription gets nothing. */
async function subscriptionRefused(nc: NatsConnection, subject: string): Promise<void> {
  const errors: string[] = [];
  const statuses = (async () => {
    for await (const s of nc.status()) if (s.type === "error") errors.push(String((s as { error?: Error }).error?.message));
  })();
  const sub = nc.subscribe(subject);
  let received = 0;
  void (async () => {
    for await (const _ of sub) received++;
  })().catch(() => undefined);
  await nc.flush();
  await waitFor(
    `the server refusing a subscription to ${subject}`,
    async () => (errors.some((e) => e.includes("Permissions Violation for Subscription") && e.includes(subject)) ? true : undefined),
    15_000,
  );
  expect(received).toBe(0);
  void statuses;
}

async function totals(tenant: string): Promise<{ events: number; cost_usd: string }> {
  return stack.api(`/v1/totals?tenant=${encodeURIComponent(tenant)}`);
}

beforeAll(async () => {
  stack = await startStack(home, { COSTLINE_DEMO_RATE: "20" }, ["--demo"]);
  const issued = await cli("keys", "create", "--tenant", TENANT, "--nats");
  expect(issued.code, issued.stderr).toBe(0);
  producer = JSON.parse(issued.stdout);
  pnc = await as(producer.nats_user, producer.nats_password);
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(opened.map((nc) => nc.close()));
  if (stack?.child.exitCode === null) await stack.stop();
});

describe("the embedded NATS admits only its users", () => {
  it("refuses anonymous clients and wrong passwords", async () => {
    await expect(connect({ servers: stack.info.nats_url, reconnect: false })).rejects.toThrow(/Authorization Violation/);
    await expect(as(producer.nats_user, `${producer.nats_password}x`)).rejects.toThrow(/Authorization Violation/);
    await expect(as("costline-operator", "guessed-password-guessed")).rejects.toThrow(/Authorization Violation/);
  });

  it("keeps its secrets in files only the owner reads; the server holds bcrypt hashes, never a password", () => {
    const paths = natsAuthPaths(home);
    expect(statSync(paths.dir).mode & 0o777).toBe(0o700);
    for (const f of [paths.credentials, paths.serverConfig, path.join(home, "stack.json")]) expect(statSync(f).mode & 0o777, f).toBe(0o600);
    const conf = readFileSync(paths.serverConfig, "utf8");
    for (const role of ["pipeline", "operator", "publisher"] as const) expect(conf).not.toContain(stackCredentials(stack, role).password);
    expect(conf).not.toContain(producer.nats_password);
    expect(readFileSync(paths.credentials, "utf8")).not.toContain(producer.nats_password); // printed once, stored as a hash
    expect(conf.match(/"password":"\$2[aby]\$04\$/g)?.length).toBe(4); // bcrypt at its minimum cost: see BCRYPT_COST
    expect(stack.info.nats_user).toBe("costline-publisher");
  });
});

describe("a tenant's producer", () => {
  it("publishes its own events through the SDK, and they reach the ledger", async () => {
    expect(producer.subject).toBe(subjects.events(TENANT));
    const sdk = await createProducer({
      servers: stack.info.nats_url,
      auth: { user: producer.nats_user, password: producer.nats_password },
    });
    const acks = await sdk.publish([costEvent(1, TENANT, "1.25", "test/roles"), costEvent(2, TENANT, "2.5", "test/roles")]);
    expect(acks.map((a) => a.stream)).toEqual(["COSTLINE_EVENTS", "COSTLINE_EVENTS"]);
    await sdk.close();
    const t = await waitFor("the producer's events in the ledger", async () => {
      const r = await totals(TENANT);
      return r.events === 2 ? r : undefined;
    });
    expect(t.cost_usd).toBe("3.75");
  });

  it("cannot publish to another tenant's events subject, nor to priced, windows, alerts or DLQ subjects", async () => {
    const js = jetstream(pnc);
    const forged = JSON.stringify(costEvent(3, OTHER, "99", "test/roles"));
    for (const subject of [
      subjects.events(OTHER),
      `${subjects.events(TENANT)}.extra`,
      subjects.priced(TENANT),
      subjects.priced(OTHER),
      subjects.windows("tenant", TENANT),
      subjects.alerts("critical", "spike"),
      subjects.dlq("enrich"),
    ])
      await refused(js.publish(subject, forged));
    expect((await totals(OTHER)).events).toBe(0);
  });

  it("a forged alert is refused and never reaches the alerts table", async () => {
    const alert = {
      id: "forged-alert-1",
      type: "spike",
      severity: "critical",
      tenant: TENANT,
      summary: "forged",
      time: new Date().toISOString(),
    };
    await refused(jetstream(pnc).publish(subjects.alerts("critical", "spike"), JSON.stringify(alert)));
    // A core publish (no ack asked) is dropped by the server just the same.
    pnc.publish(subjects.alerts("critical", "spike"), JSON.stringify(alert));
    await pnc.flush();
    const rows = await stack.sql<{ n: string }>("SELECT count() AS n FROM costline.alerts WHERE id = 'forged-alert-1'");
    expect(Number(rows[0]!.n)).toBe(0);
  });

  it("cannot write any KV bucket, nor create or delete a stream", async () => {
    const kvm = new Kvm(pnc);
    for (const bucket of [kvBuckets.controls, kvBuckets.budgets, kvBuckets.checkpoints, notifyBuckets.silences, notifyBuckets.state]) {
      const kv = await kvm.open(bucket);
      await refused(kv.put(`${TENANT}.tenant`, JSON.stringify({ state: "closed" })));
      await refused(kv.delete(`${TENANT}.tenant`));
    }
    const jsm = await jetstreamManager(pnc);
    await refused(jsm.streams.add({ name: "ROGUE", subjects: ["rogue.>"] }));
    await refused(jsm.streams.delete("COSTLINE_EVENTS"));
    await refused(jsm.streams.purge("COSTLINE_PRICED"));
    await refused(kvm.create("rogue-bucket"));
    // The streams are all still there, as the operator sees them.
    const onc = await connectStack(stack, "operator");
    opened.push(onc);
    const names: string[] = [];
    for await (const n of (await jetstreamManager(onc)).streams.names()) names.push(n);
    expect(names).toEqual(expect.arrayContaining(["COSTLINE_EVENTS", "COSTLINE_PRICED", "COSTLINE_ALERTS", "COSTLINE_DLQ"]));
    expect(names).not.toContain("ROGUE");
  });

  it("writes its own tenant's budget reservation counters (compare-and-set), and no other tenant's", async () => {
    const kv = await new Kvm(pnc).open(kvBuckets.reservations, { allow_direct: true });
    const own = `${kvToken(TENANT)}.tenant.daily.p0`;
    const rev = await kv.create(own, JSON.stringify({ probe: 1 }));
    await kv.update(own, JSON.stringify({ probe: 2 }), rev);
    expect((await kv.get(own))?.json()).toEqual({ probe: 2 });
    await refused(kv.put(`${kvToken(OTHER)}.tenant.daily.p0`, JSON.stringify({ probe: 1 })));
    await expect(kv.get(`${kvToken(OTHER)}.tenant.daily.p0`)).rejects.toThrow();
  });

  it("cannot read priced events, its own or another tenant's, nor anyone's replies", async () => {
    const jsm = await jetstreamManager(pnc);
    await refused(jsm.consumers.add("COSTLINE_PRICED", { name: "snoop", filter_subject: subjects.priced(OTHER) }));
    await refused(jsm.streams.getMessage("COSTLINE_PRICED", { last_by_subj: subjects.priced(TENANT) }));
    await refused(jsm.streams.info("COSTLINE_PRICED"));
    await subscriptionRefused(pnc, subjects.all.priced);
    // Pull deliveries and every JetStream answer travel on inboxes: each client has its own.
    await subscriptionRefused(pnc, "_INBOX.>");
  });

  it("its guard reads its tenant's controls and budgets, and no other tenant's", async () => {
    const send = (method: string, p: string, body: unknown) =>
      fetch(`${stack.info.api_url}${p}`, {
        method,
        headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    expect((await send("PUT", "/v1/controls", { scope: { tenant: TENANT }, state: "open", reason: "roles test" })).status).toBe(200);
    expect((await send("PUT", "/v1/controls", { scope: { tenant: OTHER }, state: "open", reason: "roles test" })).status).toBe(200);
    expect((await send("PUT", "/v1/budgets", { scope: { tenant: TENANT }, period: "monthly", amount_usd: "100" })).status).toBe(200);

    const guard = await createGuard({
      servers: stack.info.nats_url,
      auth: { user: producer.nats_user, password: producer.nats_password },
      tenant: TENANT,
    });
    await guard.ready;
    await waitFor(
      "the guard seeing its pause",
      async () => (guard.check({ tenant: TENANT, model: "gpt-4o" }).allow === false ? true : undefined),
      15_000,
    );
    // Another tenant's pause is not in its copy (it may not read it).
    expect(guard.check({ tenant: OTHER, model: "gpt-4o" }).allow).toBe(true);
    await guard.close();

    const kvm = new Kvm(pnc);
    const controls = await kvm.open(kvBuckets.controls, { allow_direct: true });
    expect((await controls.get(`${TENANT}.tenant`))?.json()).toMatchObject({ state: "open" });
    await refused(controls.get(`${kvToken(OTHER)}.tenant`));
    const budgets = await kvm.open(kvBuckets.budgets, { allow_direct: true });
    expect((await budgets.get(`${TENANT}.tenant.monthly`))?.json()).toMatchObject({ amount_usd: "100" });
    await refused(budgets.get(`${kvToken(OTHER)}.tenant.monthly`));
    // A watch of the whole bucket, or of another tenant's keys, is refused.
    await refused(controls.watch());
    await refused(controls.watch({ key: `${kvToken(OTHER)}.>` }));
    expect((await send("DELETE", "/v1/controls", { scope: { tenant: TENANT }, reason: "done" })).status).toBeLessThan(300);
    expect((await send("DELETE", "/v1/controls", { scope: { tenant: OTHER }, reason: "done" })).status).toBeLessThan(300);
  });
});

describe("enrich trusts the subject's tenant", () => {
  it("an event naming another tenant than its subject goes to the DLQ as tenant_mismatch; its batch neighbours are ledgered", async () => {
    const js = jetstream(pnc);
    const own = costEvent(10, TENANT, "0.5", "test/roles-mismatch");
    const stolen = costEvent(11, OTHER, "1000", "test/roles-mismatch");
    await js.publish(subjects.events(TENANT), JSON.stringify(stolen), { msgID: "roles-mismatch-single" });
    await js.publish(subjects.events(TENANT), JSON.stringify([own, { ...stolen, id: "evt-12" }]), { msgID: "roles-mismatch-batch" });
    const records = await waitFor(
      "two tenant_mismatch records",
      async () => {
        const r = await cli("dlq", "list", "--json", "--reason", "tenant_mismatch");
        if (r.code !== 0) throw new Error(r.stderr);
        const rows = r.stdout
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { reason: string; stage: string; detail: string; subject: string; event_id?: string });
        return rows.length >= 2 ? rows : undefined;
      },
      60_000,
    );
    expect(records.map((r) => [r.stage, r.reason, r.subject])).toEqual([
      ["enrich", "tenant_mismatch", subjects.events(TENANT)],
      ["enrich", "tenant_mismatch", subjects.events(TENANT)],
    ]);
    expect(records.map((r) => r.event_id).sort()).toEqual(["evt-11", "evt-12"]);
    expect(records[0]!.detail).toMatch(/is not the tenant of subject/);
    await waitFor("the matching neighbour in the ledger", async () => ((await totals(TENANT)).events === 3 ? true : undefined));
    expect((await totals(TENANT)).cost_usd).toBe("4.25");
    expect((await totals(OTHER)).events).toBe(0);
  });
});

describe("the built-in roles", () => {
  it("the demo traffic (the all-tenants producer) still reaches the ledger", async () => {
    const rows = await waitFor(
      "demo events in the ledger",
      async () => {
        const r = await stack.sql<{ tenants: string; events: string }>(
          "SELECT uniqExact(tenant) AS tenants, count() AS events FROM costline.ledger WHERE source NOT LIKE 'test/%'",
        );
        return Number(r[0]?.events) > 0 ? r[0] : undefined;
      },
      90_000,
    );
    expect(Number(rows.tenants)).toBeGreaterThan(1);
  });

  it("costline publish uses stack.json's producer for every tenant; that producer writes nothing else", async () => {
    const file = path.join(home, "publish.ndjson");
    const events = [costEvent(20, "roles-pub-a", "1", "test/roles-publish"), costEvent(21, "roles-pub-b", "2", "test/roles-publish")];
    writeFileSync(file, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
    const pub = await cli("publish", "--file", file);
    expect(pub.code, pub.stderr).toBe(0);
    expect(JSON.parse(pub.stdout)).toEqual({ published: 2, rejected: 0 });
    await waitFor("both tenants in the ledger", async () =>
      (await totals("roles-pub-a")).events === 1 && (await totals("roles-pub-b")).events === 1 ? true : undefined,
    );
    const { user, password } = stackCredentials(stack, "publisher");
    const nc = await as(user, password);
    await refused(jetstream(nc).publish(subjects.priced("roles-pub-a"), "[]"));
    await refused(jetstream(nc).publish(subjects.alerts("critical", "spike"), "{}"));
    await refused((await new Kvm(nc).open(kvBuckets.controls)).put("roles-pub-a.tenant", "{}"));
  });

  it("the pipeline cannot publish events, write budgets or silences, or delete streams", async () => {
    const nc = await connectStack(stack, "pipeline");
    opened.push(nc);
    await refused(jetstream(nc).publish(subjects.events(TENANT), JSON.stringify(costEvent(30, TENANT, "1", "test/roles"))));
    await refused((await new Kvm(nc).open(kvBuckets.budgets)).put(`${TENANT}.tenant.daily`, "{}"));
    await refused((await new Kvm(nc).open(notifyBuckets.silences)).put("s-1", "{}"));
    await refused((await jetstreamManager(nc)).streams.delete("COSTLINE_DLQ"));
  });

  it("the operator (costline dlq) reads the DLQ; it too cannot delete a stream", async () => {
    const stats = await cli("dlq", "stats", "--json");
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout).by_stage.enrich.tenant_mismatch).toBe(2);
    const nc = await connectStack(stack, "operator");
    opened.push(nc);
    await refused((await jetstreamManager(nc)).streams.delete("COSTLINE_EVENTS"));
  });
});

describe("issuing and revoking producers, across restarts", () => {
  it("a revoked producer is refused at once; users outlive a clean restart and a SIGKILL", async () => {
    const second = await cli("keys", "create", "--tenant", OTHER, "--nats");
    expect(second.code, second.stderr).toBe(0);
    const other = JSON.parse(second.stdout) as { nats_user: string; nats_password: string; subject: string };
    expect(other.subject).toBe(subjects.events(OTHER));
    const onc = await as(other.nats_user, other.nats_password);
    await jetstream(onc).publish(other.subject, JSON.stringify(costEvent(40, OTHER, "1", "test/roles-other")));
    await refused(jetstream(onc).publish(subjects.events(TENANT), "{}"));

    const listed = await cli("keys", "list", "--nats");
    expect(
      JSON.parse(listed.stdout)
        .users.map((u: { tenant: string }) => u.tenant)
        .sort(),
    ).toEqual([OTHER, TENANT].sort());
    const revoked = await cli("keys", "revoke", other.nats_user, "--nats");
    expect(revoked.code, revoked.stderr).toBe(0);
    await waitFor(
      "the revoked user refused",
      async () =>
        (await as(other.nats_user, other.nats_password).then(
          (nc) => nc.close().then(() => false),
          () => true,
        ))
          ? true
          : undefined,
      20_000,
    );

    const before = stack.info.nats_password;
    expect(await stack.stop()).toBe(0);
    stack = await startStack(home);
    expect(stack.info.nats_password).toBe(before);
    await (await as(producer.nats_user, producer.nats_password)).close();
    await stack.kill();
    stack = await startStack(home);
    expect(stack.info.nats_password).toBe(before);
    const again = await as(producer.nats_user, producer.nats_password);
    await jetstream(again).publish(subjects.events(TENANT), JSON.stringify(costEvent(41, TENANT, "1", "test/roles")));
    await waitFor(
      "the event after the restarts in the ledger",
      async () => ((await totals(TENANT)).events === 4 ? true : undefined),
      60_000,
    );
    await expect(as(other.nats_user, other.nats_password)).rejects.toThrow(/Authorization Violation/);
  }, 240_000);
});
