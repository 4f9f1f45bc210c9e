// Publishes one tenant's events as batch messages (a JSON array each, at most
// `maxEvents` per message) through the producer, so an export of 512 spans is
// a few JetStream round trips, not 512. A re-export makes the same messages
// (same order, same ids), so JetStream's Nats-Msg-Id dedup drops them.
import type { CostlineEventInput } from "../../schemas/index.ts";
import type { Producer } from "../producer/producer.ts";
import type { PublishEvents } from "./otlp-ingest.ts";

/** Events per batch message at most: well under the 1 MiB message limit at ~1 KiB an event. */
const MAX_PER_MESSAGE = 250;

export function publishInBatches(producer: Pick<Producer, "publishBatch">, maxEvents: number): PublishEvents {
  const size = Math.max(1, Math.min(MAX_PER_MESSAGE, maxEvents));
  return async (events: CostlineEventInput[]) => {
    const chunks: CostlineEventInput[][] = [];
    for (let i = 0; i < events.length; i += size) chunks.push(events.slice(i, i + size));
    await Promise.all(chunks.map((chunk) => producer.publishBatch(chunk)));
  };
}
