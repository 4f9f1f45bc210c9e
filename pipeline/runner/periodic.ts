// Runs a job every `intervalMs` until the signal aborts: the timer only wakes
// the loop, the loop does the work, so two passes never overlap and an error
// is logged and retried on the next tick rather than lost. Passes start
// `intervalMs` apart (a pass's own duration is not added to the wait), or
// back to back when a pass takes longer.
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../observability/log.ts";
import type { RunningStage } from "./consumer-runner.ts";

export function startPeriodic(opts: {
  stage: string;
  intervalMs: number;
  run: () => Promise<unknown>;
  log: Logger;
  signal: AbortSignal;
}): RunningStage {
  let last = Date.now();
  const done = (async () => {
    opts.log.info({ interval_ms: opts.intervalMs }, "stage started");
    while (!opts.signal.aborted) {
      const started = Date.now();
      try {
        await opts.run();
        last = Date.now();
      } catch (err) {
        opts.log.error({ err }, "pass failed; retrying on the next tick");
      }
      await sleep(Math.max(0, opts.intervalMs - (Date.now() - started)), undefined, { signal: opts.signal }).catch(() => undefined);
    }
    opts.log.info("stage stopped");
  })();
  return { name: opts.stage, done, lastFlushAt: () => last };
}
