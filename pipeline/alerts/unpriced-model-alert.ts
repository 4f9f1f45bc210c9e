// Raises "a model without a price was seen" once per (provider, model): an
// alert-worthy fact, not an error. The alert id is derived from the model, so
// a repeat after a restart is dropped by JetStream's duplicate window and
// collapses in the alerts table.
import { createHash } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Alert } from "../../schemas/index.ts";
import type { Subjects } from "../nats/subjects.ts";
import type { Logger } from "../observability/log.ts";

export function unpricedModelAlert(e: { provider: string; model: string; tenant: string; time: string }, now = new Date()): Alert {
  const fingerprint = createHash("sha256")
    .update(`unpriced_model\u0000${e.provider.toLowerCase()}\u0000${e.model.toLowerCase()}`)
    .digest("hex")
    .slice(0, 32);
  return {
    id: fingerprint,
    fingerprint,
    type: "unpriced_model",
    severity: "medium",
    status: "firing",
    tenant: e.tenant,
    scope: "model",
    scope_key: { provider: e.provider, model: e.model },
    observed: "no price",
    expected: "a price from genai-prices or configuration",
    multiplier: null,
    score: null,
    window_start: e.time,
    window_end: e.time,
    first_seen: e.time,
    detected_at: now.toISOString(),
    message: `No price is known for ${e.provider}/${e.model}: its events are stored with an unknown cost. Add it under pricing.models in the configuration.`,
    evidence: { by_model: [], by_operation: [], by_post: [], by_user: [] },
  };
}

/** Publishes the alert the first time this process sees each unpriced model. */
export function createUnpricedModelNotifier(js: JetStreamClient, subjects: Subjects, log: Logger) {
  const announced = new Set<string>();
  return (e: { provider: string; model: string; tenant: string; time: string }) => {
    const k = `${e.provider.toLowerCase()}\u0000${e.model.toLowerCase()}`;
    if (announced.has(k)) return;
    announced.add(k);
    const alert = unpricedModelAlert(e);
    js.publish(subjects.alerts(alert.severity, alert.type), JSON.stringify(alert), { msgID: `alert:${alert.id}` }).then(
      () => log.warn({ provider: e.provider, model: e.model }, "unpriced model seen; alert raised"),
      (err) => {
        announced.delete(k); // try again with the next event
        log.error({ err, provider: e.provider, model: e.model }, "could not publish the unpriced-model alert");
      },
    );
  };
}
