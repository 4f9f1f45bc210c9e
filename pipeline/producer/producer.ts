// The producer SDK: validates events against the wire schemas and publishes
// them to JetStream, resolving once JetStream has stored them. Nats-Msg-Id is
// set from source and id, so a retried publish is dropped by the server.
//
// Credentials come from `auth`, else from NATS_USER/NATS_PASSWORD, NATS_TOKEN
// or NATS_CREDS in the environment (`costline keys create --tenant T --nats`
// issues a tenant's user; it may publish only to that tenant's subject).
//
//   import { createProducer } from "costline/producer";
//   const producer = await createProducer({ servers: "nats://127.0.0.1:4222",
//     auth: { user: process.env.NATS_USER, password: process.env.NATS_PASSWORD } });
//   await producer.publish({ specversion: "1.0", id: "01JD3M8Q9X", source: "svc/hooks",
//     type: "costline.llm.usage", time: new Date().toISOString(),
//     data: { tenant: "acme", provider: "openai", model: "gpt-4o",
//             usage: { input_tokens: 1000, output_tokens: 500 } } });
//   await producer.close();
import { jetstream, type JetStreamClient, type PubAck } from "@nats-io/jetstream";
import { connect, type NodeConnectionOptions } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { costlineEvent, type CostlineEvent, type CostlineEventInput } from "../../schemas/index.ts";
import { CostlineError, formatIssues } from "../errors.ts";
import { createSubjects } from "../nats/subjects.ts";
import { natsAuthFromEnv, natsAuthOptions, type NatsAuth } from "../nats/connect.ts";

export class EventValidationError extends CostlineError {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
  }
}

export interface ProducerOptions {
  /** A connection to reuse, or servers (and credentials) to connect with. */
  nc?: NatsConnection;
  servers?: string | string[];
  /** Credentials for a connection of its own (default: NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS). */
  auth?: NatsAuth;
  connectOptions?: Omit<NodeConnectionOptions, "servers">;
  subjectPrefix?: string;
  /** Per-publish timeout in ms (default 10 s). */
  timeoutMs?: number;
}

export interface Producer {
  /** Validates, then publishes one event (or each of a list) and waits for JetStream's acks. */
  publish(events: CostlineEventInput | CostlineEventInput[]): Promise<PubAck[]>;
  /** Publishes one tenant's events as one batch message (a JSON array) on that tenant's subject. */
  publishBatch(events: CostlineEventInput[]): Promise<PubAck>;
  close(): Promise<void>;
}

export function validateForPublish(events: CostlineEventInput[]): CostlineEvent[] {
  return events.map((e, i) => {
    const r = costlineEvent.safeParse(e);
    if (!r.success) throw new EventValidationError(`event ${i}: ${formatIssues(r.error)}`, i);
    return r.data;
  });
}

/** `%`, `|` and line breaks as %XX, so the three parts of a message id can be told apart and fit a header. */
const idPart = (s: string) => s.replace(/[%|\r\n]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);

/**
 * An event's Nats-Msg-Id: tenant, source and id. JetStream's duplicate window
 * spans the whole events stream, so an id without the tenant let one tenant's
 * event make JetStream drop another tenant's with the same source and id.
 */
export const msgIdOf = (e: { source: string; id: string; data: { tenant: string } }) =>
  `${idPart(e.data.tenant)}|${idPart(e.source)}|${idPart(e.id)}`;

/** A batch message's Nats-Msg-Id: its first event, its size and its last event. */
export const batchMsgIdOf = (events: readonly { source: string; id: string; data: { tenant: string } }[]) =>
  `batch|${msgIdOf(events[0]!)}|${events.length}|${msgIdOf(events[events.length - 1]!)}`;

export async function createProducer(opts: ProducerOptions): Promise<Producer> {
  const own = !opts.nc;
  const nc =
    opts.nc ??
    (await connect({
      name: "costline-producer",
      // No Error (with its stack capture) built for every publish in case its ack fails: errors keep
      // their class and message, not the async call site. Override in connectOptions to debug.
      noAsyncTraces: true,
      ...natsAuthOptions(opts.auth ?? natsAuthFromEnv()),
      ...opts.connectOptions,
      servers: opts.servers ?? "nats://127.0.0.1:4222",
    }));
  const js: JetStreamClient = jetstream(nc, { timeout: opts.timeoutMs ?? 10_000 });
  const subjects = createSubjects(opts.subjectPrefix ?? "costline");
  return {
    async publish(input) {
      const events = validateForPublish(Array.isArray(input) ? input : [input]);
      return Promise.all(events.map((e) => js.publish(subjects.events(e.data.tenant), JSON.stringify(e), { msgID: msgIdOf(e) })));
    },
    async publishBatch(input) {
      const events = validateForPublish(input);
      if (events.length === 0) throw new EventValidationError("an empty batch", 0);
      const first = events[0]!;
      // The subject vouches for the tenant: enrich refuses an event of another tenant (tenant_mismatch).
      const other = events.findIndex((e) => e.data.tenant !== first.data.tenant);
      if (other >= 0)
        throw new EventValidationError(
          `event ${other}: a batch carries one tenant's events (tenant "${first.data.tenant}", not "${events[other]!.data.tenant}")`,
          other,
        );
      return js.publish(subjects.events(first.data.tenant), JSON.stringify(events), {
        msgID: batchMsgIdOf(events),
      });
    },
    async close() {
      if (own) await nc.drain();
    },
  };
}
