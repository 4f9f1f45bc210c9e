// The windower: reads priced events (its own durable consumer beside the
// ledger's), aggregates them into tumbling event-time windows per scope, and
// publishes open windows as they change (final: false) and each window once
// final on `<prefix>.windows.<scope>` (a JSON array of window aggregates). A message is acknowledged only after
// every window it counted in was published final; the watermark is
// checkpointed in KV so a restart does not reopen final windows.
import { createHash } from "node:crypto";
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Config } from "../config/config.ts";
import { PermanentError } from "../errors.ts";
import { parsePriced, type PricedDecoder } from "../ledger/priced-decoder.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Subjects } from "../nats/subjects.ts";
import type { BatchHandler, Outcome } from "../runner/consumer-runner.ts";
import { deadFrom } from "../runner/consumer-runner.ts";
import type { WindowAggregate } from "../../schemas/index.ts";
import { createWindowState } from "./window-state.ts";

export interface WindowerDeps {
  js: JetStreamClient;
  subjects: Subjects;
  kv: KV;
  config: Config["windows"];
  /** Users with a budget, who get per-user windows (see budgets/budgeted-users.ts). */
  userWindows?: (tenant: string, user: string) => boolean;
  /** Default: decode each message on its own (see priced-decoder.ts). */
  decode?: PricedDecoder;
  metrics: Metrics;
  log: Logger;
  now?: () => number;
}

const CHECKPOINT = "windower.watermark";
const DONE: Outcome = { kind: "done" };
const WINDOWS_PER_MESSAGE = 500;

export async function createWindower(deps: WindowerDeps) {
  const now = deps.now ?? Date.now;
  const decode = deps.decode ?? parsePriced;
  const state = createWindowState({
    windowMs: deps.config.windowS * 1000,
    latenessMs: deps.config.latenessS * 1000,
    userWindows: deps.userWindows,
  });
  const saved = await deps.kv.get(CHECKPOINT).catch(() => null);
  if (saved?.value?.length) state.restore(Number(saved.string()));
  deps.log.info({ watermark: new Date(state.watermark()).toISOString() }, "windower resumed");

  const handle: BatchHandler = async (batch: JsMsg[]) =>
    batch.map((msg): Outcome => {
      let events;
      try {
        events = decode(msg);
      } catch (err) {
        if (err instanceof PermanentError) return deadFrom(err);
        throw err;
      }
      // The window starts the message's events joined: almost always one.
      const starts = new Set<number>();
      for (const e of events) {
        const r = state.add(e, now());
        if (r.status === "added") starts.add(r.start);
        else deps.metrics.events.inc({ stage: "windower", result: r.status });
      }
      if (starts.size === 0) return { kind: "done" };
      const finalOf = (start: number) => new Promise<Outcome>((resolve) => state.whenFinal(start, () => resolve(DONE)));
      const until = starts.size === 1 ? finalOf(starts.values().next().value!) : Promise.all([...starts].map(finalOf)).then(() => DONE);
      return { kind: "deferred", until };
    });

  /** Finals not yet published (a failed publish is retried on the next emission, never dropped). */
  let pending: { finals: WindowAggregate[]; release: () => void }[] = [];

  /** One emission: publish changed and final windows, then release the finals' messages and checkpoint. */
  async function emit(): Promise<number> {
    const { updates, finals, release } = state.tick(now());
    if (finals.length) pending.push({ finals, release });
    // One message per scope and chunk of windows: a window update per message would cost more than the events did.
    const publishAll = async (windows: WindowAggregate[]) => {
      const byScope = new Map<string, WindowAggregate[]>();
      for (const w of windows) {
        const list = byScope.get(w.scope);
        if (list) list.push(w);
        else byScope.set(w.scope, [w]);
      }
      const sends: Promise<unknown>[] = [];
      for (const [scope, list] of byScope)
        for (let i = 0; i < list.length; i += WINDOWS_PER_MESSAGE) {
          const chunk = list.slice(i, i + WINDOWS_PER_MESSAGE);
          const id = createHash("sha256");
          for (const w of chunk) id.update(`${JSON.stringify(w.key)}|${w.window_start}|${w.final ? "final" : w.emitted_at}\n`);
          sends.push(
            deps.js.publish(deps.subjects.windows(scope), JSON.stringify(chunk), {
              msgID: `windows:${scope}:${id.digest("hex").slice(0, 32)}`,
            }),
          );
        }
      await Promise.all(sends);
    };
    const due = pending;
    await publishAll(updates);
    await publishAll(due.flatMap((p) => p.finals));
    pending = pending.filter((p) => !due.includes(p));
    for (const p of due) p.release();
    if (due.length) await deps.kv.put(CHECKPOINT, String(state.watermark()));
    return updates.length + due.reduce((n, p) => n + p.finals.length, 0);
  }

  return { handle, emit, state };
}
