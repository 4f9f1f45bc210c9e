// Every message on the wire, by name: the single source of truth for shapes.
// JSON Schema for producers in other languages is generated from this list.
export * from "./common.ts";
export * from "./money.ts";
export * from "./events.ts";
export * from "./event-kinds.ts";
export * from "./priced.ts";
export * from "./window.ts";
export * from "./alert.ts";
export * from "./dlq.ts";
export * from "./budget.ts";
export * from "./control.ts";
export * from "./notify.ts";
export * from "./reservation.ts";

import { alertSchema } from "./alert.ts";
import { dlqRecordSchema } from "./dlq.ts";
import { budgetSchema } from "./budget.ts";
import { controlSchema } from "./control.ts";
import { deliveryRecordSchema, silenceSchema, webhookPayloadSchema } from "./notify.ts";
import { costlineEvent } from "./events.ts";
import { eventWireSchemas } from "./event-kinds.ts";
import { pricedEventSchema } from "./priced.ts";
import { reservationCounterSchema } from "./reservation.ts";
import { windowAggregateSchema, windowBatchSchema } from "./window.ts";

export const wireSchemas = {
  "costline-event": costlineEvent,
  ...eventWireSchemas,
  "priced-event": pricedEventSchema,
  "window-aggregate": windowAggregateSchema,
  "window-batch": windowBatchSchema,
  alert: alertSchema,
  "dlq-record": dlqRecordSchema,
  budget: budgetSchema,
  control: controlSchema,
  "reservation-counter": reservationCounterSchema,
  silence: silenceSchema,
  "notify-delivery": deliveryRecordSchema,
  "notify-webhook-payload": webhookPayloadSchema,
} as const;
