// The windower of one partition: reads that partition's priced events (its
// own durable consumer), aggregates them into tumbling event-time windows per
// scope, and publishes open windows as they change (final: false) and each
// window once final on `<prefix>.windows.<scope>.<partition>` (a JSON array of window
// aggregates, Nats-Msg-Id from the windows' keys, so a republished final is a
// duplicate JetStream drops).
//
// State is checkpointed instead of held: a message is acknowledged once a
// checkpoint of the partition's window state that counts its events is
// durable (checkpoint-store.ts), and finals are published before the
// checkpoint that drops them. A replacement loads the checkpoint and holds
// every window open until its predecessor's unacknowledged messages came
// back to it (the consumer has no messages handed out that this instance does
// not hold), so each reaches the window it belongs to, and the events the
// checkpoint already counts are recognised by their keys.
import { createHash } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Config } from "../config/config.ts";
import { TransientError } from "../errors.ts";
import { groupBy } from "../group-by.ts";
import type { Fence } from "../leases/lease-manager.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Subjects } from "../nats/subjects.ts";
import type { BatchHandler, Outcome } from "../runner/consumer-runner.ts";
import type { PricedEvent, WindowAggregate } from "../../schemas/index.ts";
import type { CheckpointStore } from "./checkpoint-store.ts";
import { createWindowState, type WindowSnapshot, type WindowSnapshotV1, type WindowSnapshotV2 } from "./window-state.ts";

export interface WindowerDeps {
  js: JetStreamClient;
  subjects: Subjects;
  partition: number;
  checkpoints: CheckpointStore;
  config: Config["windows"];
  /** Users with a budget, who get per-user windows (see budgets/budgeted-users.ts). */
  userWindows?: (tenant: string, user: string) => boolean;
  /** The partition's lease: nothing is published or checkpointed once it is lost. */
  fence?: Fence;
  /** Messages of the partition's consumer handed out and not acknowledged (to anyone): ends the takeover hold. */
  ackPending?: () => Promise<number>;
  /** The longest a takeover holds windows open waiting for its predecessor's messages. */
  maxHoldMs: number;
  /** A watermark an older single-instance windower checkpointed (read when the partition has no checkpoint yet). */
  legacyWatermark?: () => Promise<number | undefined>;
  metrics: Metrics;
  log: Logger;
  now?: () => number;
}

interface Checkpointed {
  state: WindowSnapshot | WindowSnapshotV2 | WindowSnapshotV1;
  /** Finals taken out of the state whose publication was not yet confirmed. */
  unpublished: WindowAggregate[];
}

const DONE: Outcome = { kind: "done" };
const WINDOWS_PER_MESSAGE = 500;

export async function createWindower(deps: WindowerDeps) {
  const now = deps.now ?? Date.now;
  const log = deps.log.child({ partition: deps.partition });
  const state = createWindowState({
    windowMs: deps.config.windowS * 1000,
    latenessMs: deps.config.latenessS * 1000,
    userWindows: deps.userWindows,
  });
  /** Finals not yet published (a failed publish is retried on the next emission, never dropped). */
  let unpublished: WindowAggregate[] = [];
  const saved = await deps.checkpoints.load(deps.partition);
  if (saved) {
    const cp = JSON.parse(Buffer.from(saved).toString("utf8")) as Checkpointed;
    state.load(cp.state, deps.checkpoints.loadedLog(deps.partition), deps.checkpoints.loadedSections(deps.partition));
    unpublished = cp.unpublished;
  } else {
    const wm = await deps.legacyWatermark?.();
    if (wm) state.restore(wm);
  }
  const startedAt = now();
  state.hold(true);
  log.info(
    { watermark: new Date(state.watermark()).toISOString(), openWindows: state.openWindows(), checkpoint: Boolean(saved) },
    "windower partition resumed",
  );

  /** Messages whose effect waits for the next checkpoint. */
  let waiting: (() => void)[] = [];
  let lastCheckpoint = now();
  let lastCheckpointMs = 0;
  const held = () => !deps.fence || deps.fence.held();

  // Its messages are decoded by the runner with the priced decoder (ledger/priced-decoder.ts).
  const handle: BatchHandler<PricedEvent[]> = async (batch) =>
    batch.map(({ value: events }): Outcome => {
      let counted = false;
      for (const e of events) {
        const r = state.add(e, now());
        if (r.status === "late") deps.metrics.events.inc({ stage: "windower", result: r.status });
        else {
          // A duplicate too: the state that counted it may not be checkpointed yet.
          counted = true;
          if (r.status === "duplicate") deps.metrics.events.inc({ stage: "windower", result: r.status });
        }
      }
      if (!counted) return DONE;
      return { kind: "deferred", until: new Promise<Outcome>((resolve) => waiting.push(() => resolve(DONE))) };
    });

  async function publishAll(windows: WindowAggregate[]): Promise<void> {
    // One message per scope and chunk of windows: a window update per message would cost more than the events did.
    const byScope = groupBy(windows, (w) => w.scope);
    const sends: Promise<unknown>[] = [];
    for (const [scope, list] of byScope)
      for (let i = 0; i < list.length; i += WINDOWS_PER_MESSAGE) {
        const chunk = list.slice(i, i + WINDOWS_PER_MESSAGE);
        const id = createHash("sha256");
        for (const w of chunk) id.update(`${JSON.stringify(w.key)}|${w.window_start}|${w.final ? "final" : w.emitted_at}\n`);
        sends.push(
          deps.js.publish(deps.subjects.windowsPartition(deps.partition, scope), JSON.stringify(chunk), {
            msgID: `windows:${scope}:${id.digest("hex").slice(0, 32)}`,
          }),
        );
      }
    await Promise.all(sends);
  }

  /** Ends the takeover hold once no message is handed out that this instance does not hold itself. */
  async function maybeEndHold(): Promise<void> {
    if (!holding) return;
    const mine = waiting.length;
    const pending = deps.ackPending ? await deps.ackPending() : 0;
    if (pending <= mine || now() - startedAt >= deps.maxHoldMs) {
      holding = false;
      state.hold(false);
      log.info({ heldMs: now() - startedAt, ackPending: pending }, "windower partition holds no more windows open");
    }
  }
  let holding = true;

  /** Writes the state and the unpublished finals; the messages counted before it are acknowledged after. */
  async function checkpoint(): Promise<void> {
    const began = now();
    const release = waiting;
    waiting = [];
    const data = Buffer.from(JSON.stringify({ state: state.snapshot(), unpublished } satisfies Checkpointed));
    try {
      if (!held()) throw new TransientError("unavailable", `lease of partition ${deps.partition} lost`);
      // The keys counted since the last checkpoint join its key log, and the window starts that changed
      // are rewritten (the store keeps both if this save fails).
      await deps.checkpoints.save(deps.partition, data, {
        fresh: state.takeFresh(),
        live: state.liveStarts(),
        sections: state.takeChanged(),
      });
    } catch (err) {
      waiting = release.concat(waiting);
      throw err;
    }
    lastCheckpointMs = now() - began;
    lastCheckpoint = now();
    for (const fn of release) fn();
  }

  /** One emission: publish changed and final windows, then checkpoint when due (always after finals). */
  async function emit(): Promise<number> {
    if (!held()) return 0;
    await maybeEndHold();
    const { updates, finals } = state.tick(now());
    unpublished = unpublished.concat(finals);
    const due = unpublished;
    await publishAll(updates);
    await publishAll(due);
    unpublished = unpublished.filter((w) => !due.includes(w));
    // A checkpoint costs in proportion to the open state: under heavy load they are spaced out to
    // ten times their own duration (never past a third of what the ack wait allows).
    const gap = Math.max(deps.config.checkpointMs, Math.min(10 * lastCheckpointMs, deps.maxHoldMs / 6));
    if (due.length || (waiting.length && now() - lastCheckpoint >= gap)) await checkpoint();
    return updates.length + due.length;
  }

  /** A graceful stop: publish what is due and checkpoint, so every message counted is acknowledged. */
  async function flush(): Promise<void> {
    await emit();
    if (waiting.length) await checkpoint();
  }

  /** The lease was lost: nothing more is written; the messages waiting for a checkpoint go back (fenced: nak) to the new owner. */
  function abandon(): void {
    const release = waiting;
    waiting = [];
    for (const fn of release) fn();
  }

  return { handle, emit, flush, abandon, state, waiting: () => waiting.length };
}
