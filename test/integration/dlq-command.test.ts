// `costline dlq` against a running stack: bad messages show up in stats and
// list with their reasons; purge deletes only with --yes; a batch refused as
// oversized is retried after the limit is raised and lands in the ledger
// exactly once, even when retried again.
import { spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { createSubjects } from "../../pipeline/nats/subjects.ts";
import { costEvent } from "../helpers/events.ts";
import { cliPath, repoRoot, startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";

const home = tempHome("costline-dlq-");
let stack: StackProcess | undefined;
afterAll(async () => {
  if (stack?.child.exitCode === null) await stack.kill();
});

function dlq(...args: string[]): string {
  const r = spawnSync(process.execPath, [cliPath, "dlq", ...args], { cwd: repoRoot, env: { ...process.env, COSTLINE_HOME: home }, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`costline dlq ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}
const json = <T>(out: string) => JSON.parse(out) as T;
type Stats = { records: number; by_stage: Record<string, Record<string, number>> };

describe("costline dlq", () => {
  it("lists, counts, purges and retries dead letters", async () => {
    stack = await startStack(home, { COSTLINE_MAX_BATCH_EVENTS: "2" });
    const nc = await connect({ servers: stack.info.nats_url });
    const js = jetstream(nc);
    const subjects = createSubjects("costline");
    const batch = [0, 1, 2].map((i) => costEvent(i, "acme", "1.25", "test/dlq"));
    await js.publish(subjects.events("acme"), JSON.stringify(batch), { msgID: "dlq-batch" }); // 3 events, over the limit of 2
    await js.publish(subjects.events("acme"), "{not json", { msgID: "dlq-broken" });
    const negative = { ...costEvent(9, "globex", "1", "test/dlq"), type: "costline.llm.usage", data: { tenant: "globex", provider: "openai", model: "gpt-4o", usage: { input_tokens: -3 } } };
    await js.publish(subjects.events("globex"), JSON.stringify(negative), { msgID: "dlq-negative" });
    await nc.close();

    const stats = await waitFor("three dead letters", async () => {
      const s = json<Stats>(dlq("stats"));
      return s.records >= 3 ? s : undefined;
    });
    expect(stats.by_stage).toEqual({ enrich: { oversized: 1, not_json: 1, invalid_usage: 1 } });
    const listed = dlq("list", "--reason", "oversized", "--json", "--payload").trim().split("\n").map((l) => JSON.parse(l) as { subject: string; detail: string; payload: string });
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ subject: "costline.events.acme", detail: expect.stringContaining("over the 2-event limit") });
    expect(JSON.parse(listed[0]!.payload)).toHaveLength(3);
    expect(dlq("list", "--stage", "enrich", "--subject", "globex")).toMatch(/\tinvalid_usage\tcostline\.events\.globex\t/);

    expect(json(dlq("purge", "--reason", "not_json"))).toEqual({ would_purge: 1, hint: "add --yes to delete them" });
    expect(json(dlq("purge", "--reason", "not_json", "--yes"))).toEqual({ purged: 1 });
    expect(json<Stats>(dlq("stats")).by_stage).toEqual({ enrich: { oversized: 1, invalid_usage: 1 } });

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
    const nc2 = await connect({ servers: stack.info.nats_url });
    await jetstream(nc2).publish(subjects.events("acme"), JSON.stringify(batch), { msgID: "dlq-batch-by-hand" });
    await nc2.close();
    await new Promise((r) => setTimeout(r, 1500));
    expect(await stack.api<{ events: number }>("/v1/totals?tenant=acme")).toMatchObject({ events: 3, cost_usd: "3.75" });
    expect(json<Stats>(dlq("stats")).by_stage).toEqual({ enrich: { invalid_usage: 1 } });
    expect(() => dlq("list", "--since", "yesterday")).toThrow(/--since must be an ISO time/);
    expect(await stack.stop()).toBe(0);
  }, 180_000);
});
