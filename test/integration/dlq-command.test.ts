// `costline dlq` against a running stack: bad messages show up in stats and
// list with their stage, reason, tenant and trace (and the stage's log names
// the trace); filters narrow them; purge deletes only with --yes and a
// filter; a retry goes back to the stage that failed and no other; a batch
// refused as oversized is retried after the limit is raised and lands in the
// ledger exactly once, even when retried again or republished by hand.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connectStack } from "../helpers/stack-nats.ts";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createSubjects, streamNames } from "../../pipeline/nats/subjects.ts";
import { costEvent } from "../helpers/events.ts";
import { cliPath, repoRoot, startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

const home = tempHome("costline-dlq-");
let stack: StackProcess | undefined;
afterAll(async () => {
  if (stack?.child.exitCode === null) await stack.kill();
});

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [cliPath, "dlq", ...args], {
    cwd: repoRoot,
    env: { ...process.env, COSTLINE_HOME: home },
    encoding: "utf8",
  });
}
function dlq(...args: string[]): string {
  const r = cli(...args);
  if (r.status !== 0) throw new Error(`costline dlq ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}
const json = <T>(out: string) => JSON.parse(out) as T;
const lines = <T>(out: string) =>
  out
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
type Stats = { records: number; by_stage: Record<string, Record<string, number>>; by_tenant: Record<string, number> };
type Listed = {
  seq: number;
  stage: string;
  reason: string;
  subject: string;
  detail: string;
  tenant?: string;
  trace_id?: string;
  request_id?: string;
  deliveries: number;
  payload?: string;
};

describe("costline dlq", () => {
  it("lists, counts, purges and retries dead letters", async () => {
    stack = await startStack(home, { COSTLINE_MAX_BATCH_EVENTS: "2" });
    const nc = await connectStack(stack);
    const js = jetstream(nc);
    const subjects = createSubjects("costline");
    const batch = [0, 1, 2].map((i) => costEvent(i, "acme", "1.25", "test/dlq"));
    await js.publish(subjects.events("acme"), JSON.stringify(batch), { msgID: "dlq-batch" }); // 3 events, over the limit of 2
    await js.publish(subjects.events("acme"), "{not json", { msgID: "dlq-broken" });
    const negative = {
      ...costEvent(9, "globex", "1", "test/dlq"),
      type: "costline.llm.usage",
      data: {
        tenant: "globex",
        trace_id: "trace-neg-1",
        request_id: "req-neg-1",
        provider: "openai",
        model: "gpt-4o",
        usage: { input_tokens: -3 },
      },
    };
    await js.publish(subjects.events("globex"), JSON.stringify(negative), { msgID: "dlq-negative" });

    // Awaited on the DLQ stream itself (a CLI process per poll would cost a second each), then read with the CLI.
    const jsm = await jetstreamManager(nc);
    const dlqSubjects = async () => (await jsm.streams.info(streamNames.dlq, { subjects_filter: ">" })).state.subjects ?? {};
    await waitFor("three dead letters", async () => ((await jsm.streams.info(streamNames.dlq)).state.messages >= 3 ? true : undefined));
    const stats = json<Stats>(dlq("stats", "--json"));
    expect(stats.records).toBe(3);
    expect(stats.by_stage).toEqual({ enrich: { oversized: 1, not_json: 1, invalid_usage: 1 } });
    expect(stats.by_tenant).toEqual({ acme: 2, globex: 1 });
    // The terminal form: one row per stage and reason, one per tenant.
    const table = dlq("stats");
    expect(table).toMatch(/^3 records, /);
    expect(table).toMatch(/^enrich\tinvalid_usage\t1$/m);
    expect(table).toMatch(/^acme\t2$/m);

    const oversized = lines<Listed>(dlq("list", "--reason", "oversized", "--json", "--payload"));
    expect(oversized).toHaveLength(1);
    expect(oversized[0]).toMatchObject({
      stage: "enrich",
      subject: "costline.events.acme",
      tenant: "acme",
      deliveries: 1,
      detail: expect.stringContaining("over the 2-event limit"),
    });
    expect(JSON.parse(oversized[0]!.payload!)).toHaveLength(3);
    const globex = lines<Listed>(dlq("list", "--tenant", "globex", "--since", "1h", "--json"));
    expect(globex).toHaveLength(1);
    expect(globex[0]).toMatchObject({ reason: "invalid_usage", tenant: "globex", trace_id: "trace-neg-1", request_id: "req-neg-1" });
    expect(globex[0]).not.toHaveProperty("payload");
    const listed = dlq("list", "--stage", "enrich", "--subject", "globex");
    expect(listed.split("\n")[0]).toBe("seq\tfailed_at\tstage\treason\tsubject\tdeliveries\tdetail");
    expect(listed).toMatch(/\tinvalid_usage\tcostline\.events\.globex\t1\t/);
    expect(dlq("list", "--until", "1h")).toBe(""); // nothing failed more than an hour ago
    expect(dlq("list", "--stage", "ledger")).toBe("");
    // The enrich stage logged the dead letter with the event's trace and request.
    const logged = readFileSync(path.join(home, "logs", "costline.log"), "utf8")
      .split("\n")
      .filter((l) => l.includes('"trace-neg-1"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toContainEqual(
      expect.objectContaining({
        stage: "enrich",
        reason: "invalid_usage",
        traceId: "trace-neg-1",
        requestId: "req-neg-1",
        tenant: "globex",
      }),
    );

    // Clear errors for bad filters; purge asks for --yes, and for a filter or --all.
    expect(cli("list", "--since", "yesterday").stderr).toMatch(/--since must be an ISO time .* or an age such as 2h/);
    expect(cli("list", "--reason", "nonsense").stderr).toMatch(/--reason must be one of validation, not_json/);
    const unfiltered = cli("purge", "--yes");
    expect(unfiltered.status).toBe(1);
    expect(unfiltered.stderr).toMatch(/purge needs a filter/);
    expect(json(dlq("purge", "--reason", "not_json"))).toEqual({ would_purge: 1, hint: "add --yes to delete them" });
    expect(json(dlq("purge", "--reason", "not_json", "--yes"))).toEqual({ purged: 1 });
    expect(json<Stats>(dlq("stats", "--json")).by_stage).toEqual({ enrich: { oversized: 1, invalid_usage: 1 } });

    // A priced message both the ledger sink and the windower refuse: two records. Retried for
    // the ledger, it reaches the ledger alone (which refuses it again); the windower lets it pass.
    await js.publish(subjects.priced("acme"), JSON.stringify([{ event_id: "half-an-event" }]), { msgID: "dlq-bad-priced" });
    await waitFor("the ledger's and the windower's records", async () => {
      const bySubject = await dlqSubjects();
      return bySubject[subjects.dlq("ledger")] && bySubject[subjects.dlq("windower")] ? true : undefined;
    });
    const both = json<Stats>(dlq("stats", "--json"));
    expect(both.by_stage).toMatchObject({ ledger: { validation: 1 }, windower: { validation: 1 } });
    const [before] = lines<Listed>(dlq("list", "--stage", "ledger", "--json"));
    expect(json(dlq("retry", "--stage", "ledger"))).toEqual({ retried: 1, skipped: [] });
    await waitFor("the ledger refusing the retried message again", async () => {
      if ((await dlqSubjects())[subjects.dlq("ledger")] !== 1) return undefined;
      const last = await jsm.streams.getMessage(streamNames.dlq, { last_by_subj: subjects.dlq("ledger") });
      return last && last.seq !== before!.seq ? true : undefined;
    });
    const retried = lines<Listed>(dlq("list", "--stage", "ledger", "--json"));
    expect(retried).toHaveLength(1);
    const [again] = retried;
    expect(again).toMatchObject({ reason: "validation", subject: subjects.priced("acme"), tenant: "acme", deliveries: 1 });
    const skippedByWindower = await waitFor("the windower skipping the ledger's retry", async () => {
      const m = (await (await fetch(`${stack!.info.api_url}/metrics`)).text()).match(
        /costline_stage_messages_total\{stage="windower",outcome="skipped"\} (\d+)/,
      );
      return m ? Number(m[1]) : undefined;
    });
    expect(skippedByWindower).toBe(1);
    expect(json<Stats>(dlq("stats", "--json")).by_stage).toMatchObject({ ledger: { validation: 1 }, windower: { validation: 1 } });
    expect(json(dlq("purge", "--subject", "costline.priced.", "--yes"))).toEqual({ purged: 2 });
    await nc.close();

    // The limit raised, the refused batch is retried and lands in the ledger.
    expect(await stack.stop()).toBe(0);
    stack = await startStack(home, { COSTLINE_MAX_BATCH_EVENTS: "1000" });
    expect(json(dlq("retry", "--reason", "oversized"))).toEqual({ retried: 1, skipped: [] });
    const totals = await waitFor("the retried events in the ledger", async () => {
      const t = await stack!.api<{ events: number; cost_usd: string }>("/v1/totals?tenant=acme");
      return t.events >= 3 ? t : undefined;
    });
    expect(totals).toMatchObject({ events: 3, cost_usd: "3.75" });
    expect(json(dlq("retry", "--reason", "oversized"))).toEqual({ retried: 0, skipped: [] }); // the record is gone
    // The same original published once more (an operator retrying by hand) is still counted once.
    const enrichAcks = async () => {
      const m = (await (await fetch(`${stack!.info.api_url}/metrics`)).text()).match(
        /costline_stage_messages_total\{stage="enrich",outcome="ack"\} (\d+)/,
      );
      return m ? Number(m[1]) : 0;
    };
    const acksBefore = await enrichAcks();
    const nc2 = await connectStack(stack);
    await jetstream(nc2).publish(subjects.events("acme"), JSON.stringify(batch), { msgID: "dlq-batch-by-hand" });
    // Awaited, not slept: enrich has taken it (what it priced is published, or refused by the priced
    // stream as a duplicate), and then the ledger's consumers hold nothing pending or unacknowledged.
    await waitFor("enrich to take the batch published by hand", async () => ((await enrichAcks()) > acksBefore ? true : undefined));
    const jsm2 = await jetstreamManager(nc2);
    await waitFor("the ledger sink to have taken everything priced", async () => {
      const ledger = (await jsm2.consumers.list(streamNames.priced).next()).filter((c) => c.name.startsWith("ledger"));
      return ledger.length > 0 && ledger.every((c) => c.num_pending === 0 && c.num_ack_pending === 0) ? true : undefined;
    });
    await nc2.close();
    expect(await stack.api<{ events: number }>("/v1/totals?tenant=acme")).toMatchObject({ events: 3, cost_usd: "3.75" });
    expect(json<Stats>(dlq("stats", "--json")).by_stage).toEqual({ enrich: { invalid_usage: 1 } });
    // The DLQ's depth gauge follows the stream: one record left, written by enrich.
    await waitFor("the DLQ depth gauge", async () =>
      /costline_dlq_depth\{stage="enrich"\} 1\b/.test(await (await fetch(`${stack!.info.api_url}/metrics`)).text()) ? true : undefined,
    );
    expect(await stack.stop()).toBe(0);
  }, 240_000);
});
