// Error classes: every failure carries its class so callers decide retry vs. DLQ
// without string matching. `reason` is the DLQ classification.

export type FailureReason =
  | "validation"
  | "not_json"
  | "oversized"
  | "unknown_type"
  | "invalid_usage"
  /** An amount (given or priced) outside the per-event bound of schemas/money.ts. */
  | "amount_out_of_range"
  /** An amount with more decimal places than the ledger keeps (below a picodollar). */
  | "too_many_decimals"
  | "poison"
  | "timeout"
  | "unavailable"
  /** A notification channel kept failing (or refused) after its last retry. */
  | "delivery_failed";

export class CostlineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad configuration: the process cannot start. */
export class ConfigError extends CostlineError {}

/** Input that can never succeed, however often it is retried: goes to the DLQ. */
export class PermanentError extends CostlineError {
  constructor(
    readonly reason: FailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A dependency is down or slow: retry later with backoff, never drop. */
export class TransientError extends CostlineError {
  constructor(
    readonly reason: "timeout" | "unavailable",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** No running stack could be found or reached. */
export class StackNotFoundError extends CostlineError {}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A zod error as one line: "path: message; …" (the first `max` issues), `root` naming an issue about the whole value. */
export function formatIssues(error: { issues: readonly { path: PropertyKey[]; message: string }[] }, root = "(event)", max = 5): string {
  return error.issues
    .slice(0, max)
    .map((i) => `${i.path.map(String).join(".") || root}: ${i.message}`)
    .join("; ");
}
