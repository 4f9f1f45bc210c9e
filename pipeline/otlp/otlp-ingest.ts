// An export request's spans → validated costline.llm.usage events published
// to the tenant's events subject through the producer (Nats-Msg-Id set, so a
// re-exported batch is dropped by JetStream and, beyond its window, by the
// ledger's dedup on event id). Returns what the OTLP answer reports.
import { costlineEvent, type CostlineEventInput } from "../../schemas/index.ts";
import { formatIssues } from "../errors.ts";
import type { OtlpAttributeMap } from "./otlp-config.ts";
import type { OtlpSpan } from "./otlp-request.ts";
import { spanToEvent } from "./genai-span.ts";

export interface IngestResult {
  llm: number;
  skipped: number;
  rejected: number;
  /** The first few rejection reasons, for the partial-success error_message. */
  reasons: string[];
}

/** Publishes one tenant's events, resolving once JetStream stored them all. */
export type PublishEvents = (events: CostlineEventInput[]) => Promise<void>;

export async function ingestSpans(spans: OtlpSpan[], tenant: string, map: OtlpAttributeMap, publish: PublishEvents): Promise<IngestResult> {
  const result: IngestResult = { llm: 0, skipped: 0, rejected: 0, reasons: [] };
  const events: CostlineEventInput[] = [];
  const seen = new Set<string>();
  const reject = (reason: string) => {
    result.rejected++;
    if (result.reasons.length < 5) result.reasons.push(reason);
  };
  for (const span of spans) {
    const outcome = spanToEvent(span, tenant, map);
    if (outcome.kind === "skipped") result.skipped++;
    else if (outcome.kind === "rejected") reject(outcome.reason);
    else {
      // Checked here, one by one, so one bad span is rejected alone instead of failing its batch.
      const check = costlineEvent.safeParse(outcome.event);
      if (!check.success) reject(`span ${span.spanId}: ${formatIssues(check.error)}`);
      else if (!seen.has(outcome.event.id)) {
        seen.add(outcome.event.id);
        events.push(outcome.event);
        result.llm++;
      } else result.llm++;
    }
  }
  if (events.length) await publish(events);
  return result;
}
