// Keeps a stage's loops running. A loop that throws, or whose message stream
// ends while nobody asked it to stop, is started again after a backoff
// (exponential in its recent failures, capped, half of it jittered). Its
// state (running, restarting, failed; restarts; last error) is what the
// process's health shows for it. A loop gives up only when it cannot recover:
// an error of a fatal class (the NATS connection closed for good, bad
// configuration), or `maxFailures` failures within `windowMs`. Then `failed`
// resolves, and the process stops and exits non-zero (cli/up-command.ts), so
// an orchestrator starts it afresh (which re-applies the topology, reconnects).
import { ClosedConnectionError } from "@nats-io/nats-core";
import { ConfigError, CostlineError, errorMessage } from "../errors.ts";
import type { Logger } from "../observability/log.ts";

export interface RestartPolicy {
  /** The delay before the first restart; each further failure within the window doubles it. */
  minDelayMs: number;
  maxDelayMs: number;
  /** A loop that failed this many times within `windowMs` gives up. */
  maxFailures: number;
  windowMs: number;
}

export const defaultRestartPolicy: RestartPolicy = { minDelayMs: 1000, maxDelayMs: 30_000, maxFailures: 8, windowMs: 300_000 };

export type LoopStatus = "running" | "restarting" | "failed";

export interface LoopState {
  name: string;
  status: LoopStatus;
  /** Restarts since the process started. */
  restarts: number;
  /** Failures within the policy's window (what the backoff and the give-up count). */
  recentFailures: number;
  lastError?: string;
  lastErrorAt?: string;
  /** While restarting: when the next attempt starts. */
  restartAt?: string;
}

/** A loop gave up: the process cannot go on with it and should stop. */
export class StageFailedError extends CostlineError {}

/** The wait before a restart after `failures` recent failures: doubling from minDelayMs up to maxDelayMs, half of it jittered. */
export function restartDelayMs(failures: number, policy: RestartPolicy, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(base / 2 + random() * (base / 2));
}

/** Errors no restart can mend: the connection is closed for good, or the configuration is wrong. */
export function isFatal(err: unknown): boolean {
  return err instanceof ClosedConnectionError || err instanceof ConfigError || err instanceof StageFailedError;
}

export interface Supervisor {
  /** Runs `body` until `signal` aborts, restarting it as the policy says; rejects with StageFailedError when it gives up. */
  run(name: string, body: () => Promise<void>, opts: { signal: AbortSignal; log: Logger }): Promise<void>;
  /** Every loop running now (and those that gave up), for health. */
  states(): LoopState[];
  /** Resolves with the first loop that gave up. */
  failed: Promise<StageFailedError>;
}

export interface SupervisorOptions {
  policy?: RestartPolicy;
  /** Counts restarts by loop (costline_stage_restarts_total). */
  onRestart?: (name: string) => void;
  now?: () => number;
  random?: () => number;
}

/** Resolves after `ms`, or false at once when the signal aborts first. */
function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const stop = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", stop);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", stop, { once: true });
  });
}

export function createSupervisor(opts: SupervisorOptions = {}): Supervisor {
  const policy = opts.policy ?? defaultRestartPolicy;
  const now = opts.now ?? Date.now;
  const live = new Set<LoopState>();
  let giveUp!: (err: StageFailedError) => void;
  const failed = new Promise<StageFailedError>((resolve) => (giveUp = resolve));

  async function run(name: string, body: () => Promise<void>, { signal, log }: { signal: AbortSignal; log: Logger }): Promise<void> {
    const state: LoopState = { name, status: "running", restarts: 0, recentFailures: 0 };
    live.add(state);
    const failures: number[] = [];
    try {
      for (;;) {
        let error: unknown;
        try {
          await body();
          if (signal.aborted) return;
          error = new Error("the consumer's message stream ended without a stop");
        } catch (err) {
          if (signal.aborted) return; // a stop cut it short: not a failure
          error = err;
        }
        const t = now();
        failures.push(t);
        while (failures[0]! <= t - policy.windowMs) failures.shift();
        state.recentFailures = failures.length;
        state.lastError = errorMessage(error).split("\n")[0]!.slice(0, 300);
        state.lastErrorAt = new Date(t).toISOString();
        if (isFatal(error) || failures.length >= policy.maxFailures) {
          state.status = "failed";
          state.restartAt = undefined;
          const why = isFatal(error) ? "cannot recover" : `failed ${failures.length} times within ${Math.round(policy.windowMs / 1000)} s`;
          const failure = new StageFailedError(`stage loop ${name} ${why}: ${state.lastError}`, { cause: error });
          log.error({ err: error, loop: name }, failure.message);
          giveUp(failure);
          throw failure;
        }
        const delay = restartDelayMs(failures.length, policy, opts.random);
        state.status = "restarting";
        state.restartAt = new Date(t + delay).toISOString();
        log.error({ err: error, loop: name, restartInMs: delay, recentFailures: failures.length }, "stage loop failed; restarting");
        if (!(await wait(delay, signal))) return;
        state.restarts++;
        state.status = "running";
        state.restartAt = undefined;
        opts.onRestart?.(name);
      }
    } finally {
      // A loop that gave up stays listed (unhealthy) while the process stops; a stopped one leaves.
      if (state.status !== "failed") live.delete(state);
    }
  }

  return { run, states: () => [...live].map((s) => ({ ...s })), failed };
}
