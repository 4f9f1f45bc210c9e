// Tells JetStream the stage is still working on the messages it holds (a
// batch being handled, an outcome deferred until its effect is durable):
// every third of the consumer's ack wait each held message gets `working()`,
// which restarts its ack wait, so a slow flush or a long wait is not taken
// for a crash and redelivered. A message already acknowledged ignores it
// (nats.js sends nothing after a final ack), so a batch is held as a whole.
import type { JsMsg } from "@nats-io/jetstream";

export interface KeepAlive {
  /** Holds these messages until the returned function is called. */
  hold(msgs: readonly JsMsg[]): () => void;
  /** (Re)starts the ticks, a third of `ackWaitMs` apart. */
  start(ackWaitMs: number): void;
  stop(): void;
}

export function createKeepAlive(): KeepAlive {
  const held = new Set<readonly JsMsg[]>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let everyMs = 0;
  const tick = () => {
    for (const msgs of held) for (const m of msgs) m.working();
  };
  return {
    hold(msgs) {
      held.add(msgs);
      return () => void held.delete(msgs);
    },
    start(ackWaitMs) {
      const ms = Math.max(100, Math.floor(ackWaitMs / 3));
      if (timer && ms === everyMs) return;
      clearInterval(timer);
      everyMs = ms;
      timer = setInterval(tick, ms);
      timer.unref?.();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
      held.clear();
    },
  };
}
