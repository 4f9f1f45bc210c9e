// Retries for one delivery: exponential backoff with jitter between attempts,
// at least what a 429's Retry-After asks for, and a clear end — after the last
// attempt, or at once for an answer that will never change (a 400, a 5xx SMTP
// reply), the caller dead-letters the delivery with the channel's error.
import { setTimeout as sleep } from "node:timers/promises";

/** What a channel reports for a failed attempt. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly opts: { retryable: boolean; status?: number; retryAfterMs?: number },
  ) {
    super(message);
    this.name = "DeliveryError";
  }
}

export interface RetryPolicy {
  attempts: number;
  initial: number;
  max: number;
  max_retry_after: number;
}

/** Delay before attempt n+1 after attempt n failed (n ≥ 1): initial·2^(n-1), capped, "equal jitter" (half fixed, half random). */
export function backoffMs(attempt: number, p: Pick<RetryPolicy, "initial" | "max">, random = Math.random): number {
  const base = Math.min(p.max, p.initial * 2 ** Math.max(0, attempt - 1));
  return Math.round(base / 2 + random() * (base / 2));
}

/** Retry-After as seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** HTTP statuses worth another try: timeouts, rate limits, server trouble. */
export const retryableStatus = (status: number) => status === 408 || status === 425 || status === 429 || status >= 500;

export type AttemptOutcome<T> =
  { ok: true; value: T; attempt: number } | { ok: false; error: DeliveryError; attempt: number; aborted?: boolean };

/**
 * Runs `attempt` until it succeeds, the error is final, the attempts are used
 * up, or `signal` aborts (a stop: the caller leaves the delivery for a later
 * redelivery). `onRetry` hears every failed attempt that will be retried.
 */
export async function withRetries<T>(
  run: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  hooks: {
    signal?: AbortSignal;
    onRetry?: (attempt: number, error: DeliveryError, delayMs: number) => Promise<void> | void;
    random?: () => number;
  },
): Promise<AttemptOutcome<T>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { ok: true, value: await run(attempt), attempt };
    } catch (err) {
      // Anything but the channel's answer (the state store failing, a lost claim) is the caller's to handle.
      if (!(err instanceof DeliveryError)) throw err;
      const error = err;
      if (!error.opts.retryable || attempt >= policy.attempts) return { ok: false, error, attempt };
      const asked = error.opts.retryAfterMs;
      if (asked !== undefined && asked > policy.max_retry_after)
        return {
          ok: false,
          attempt,
          error: new DeliveryError(
            `${error.message} (Retry-After ${Math.round(asked / 1000)} s exceeds the ${Math.round(policy.max_retry_after / 1000)} s limit)`,
            error.opts,
          ),
        };
      const delay = Math.max(backoffMs(attempt, policy, hooks.random), asked ?? 0);
      await hooks.onRetry?.(attempt, error, delay);
      if (hooks.signal?.aborted) return { ok: false, error, attempt, aborted: true };
      try {
        await sleep(delay, undefined, { signal: hooks.signal });
      } catch {
        return { ok: false, error, attempt, aborted: true };
      }
    }
  }
}
