// Enrich hands the priced events it published to the ledger of the same
// process under the stream sequence of the publish's acknowledgement. A
// sequence does not always name that message for the reader: in the cluster
// chaos run one nats-server 2.9 replica judged a republished Nats-Msg-Id a
// duplicate at the edge of the duplicate window while the leader stored it, so
// from there on the consumers that replica led delivered, under each
// sequence, the message the leader had stored one sequence later — and the
// ledger stored the offered events of one message while acknowledging
// another: 6,814 of 100,510 events lost, nothing pending, nothing in the DLQ.
// Here a stream made again reuses its sequences the same way (real
// nats-server, real enrich handler and ledger sink on real ClickHouse): the
// message delivered as seq 1 is not the one enrich offered as seq 1, and the
// ledger must store the message it acknowledges.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream, jetstreamManager, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { openClickHouse, queryRows, type Ledgerbase } from "../../pipeline/clickhouse/client.ts";
import { migrate } from "../../pipeline/clickhouse/migrate.ts";
import { loadConfig } from "../../pipeline/config/config.ts";
import { createEnrichHandler, enrichDecoder } from "../../pipeline/enrich/enrich-stage.ts";
import { createLocalPriced } from "../../pipeline/enrich/local-priced.ts";
import { createLedgerHandler } from "../../pipeline/ledger/ledger-stage.ts";
import { createLedgerStore } from "../../pipeline/ledger/ledger-store.ts";
import { createPricedDecoder } from "../../pipeline/ledger/priced-decoder.ts";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { createSubjects, streamNames } from "../../pipeline/nats/subjects.ts";
import { applyTopology, partitionDurable } from "../../pipeline/nats/topology.ts";
import { createLogger } from "../../pipeline/observability/log.ts";
import { createMetrics } from "../../pipeline/observability/metrics.ts";
import { createEventPricer } from "../../pipeline/pricing/price-event.ts";
import { startStage } from "../../pipeline/runner/consumer-runner.ts";
import { costEvent } from "../helpers/events.ts";
import { tempHome, waitFor } from "../helpers/stack-process.ts";

const home = tempHome("costline-local-priced-");
const settings = { COSTLINE_HOME: home, COSTLINE_PARTITIONS: "1", COSTLINE_ACK_WAIT_S: "5", COSTLINE_LEDGER_FLUSH_MS: "20" };
const config = loadConfig(settings);
const subjects = createSubjects("costline", 1);
let server: EmbeddedNats;
let db: Ledgerbase;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  await applyTopology(nc, jsm, config);
  db = await openClickHouse({ dataDir: path.join(home, "clickhouse") } as Parameters<typeof openClickHouse>[0]);
  await migrate(db.client);
}, 120_000);
afterAll(async () => {
  await nc?.close();
  await db?.close();
  await server?.stop();
});

/** An input message on the events subject, as enrich's runner hands it over (enrich only reads these fields). */
function input(events: unknown[], seq: number): JsMsg {
  const data = Buffer.from(JSON.stringify(events));
  return {
    subject: subjects.events("acme"),
    data,
    info: { streamSequence: seq, deliveryCount: 1, timestampNanos: Date.now() * 1e6 },
  } as unknown as JsMsg;
}

const stored = async () =>
  (await queryRows<{ event_id: string }>(db.client, "SELECT event_id FROM costline.ledger WHERE tenant = 'acme' ORDER BY event_id")).map(
    (r) => r.event_id,
  );

describe("enrich's hand-off of priced events to the ledger of its process", () => {
  it("stores the message the ledger acknowledges, not the one offered under the same sequence", async () => {
    const js = jetstream(nc);
    const metrics = createMetrics();
    const log = createLogger(process.env.TEST_LOG ?? "silent");
    const local = createLocalPriced(createPricedDecoder(1), 1);
    const enrich = createEnrichHandler({ js, subjects, toPriced: createEventPricer(config), metrics, offerPriced: local.offer });
    const decode = enrichDecoder({ maxMessageBytes: 1 << 20, maxBatchEvents: 100 });

    // Enrich publishes three events; JetStream acknowledges them as seq 1, and they are offered under it.
    const first = input([costEvent(1, "acme", "1.25"), costEvent(2, "acme", "2.5"), costEvent(3, "acme", "0.75")], 1);
    expect(await enrich([{ msg: first, value: decode(first) }])).toEqual([{ kind: "done", dlq: [] }]);
    expect(local.size()).toBe(3);

    // The stream is made again, and another enrich (another process) publishes two other events:
    // they are now seq 1, which is what the ledger's consumer delivers.
    await jsm.streams.delete(streamNames.priced);
    await applyTopology(nc, jsm, config);
    const elsewhere = createEnrichHandler({ js, subjects, toPriced: createEventPricer(config), metrics });
    const second = input([costEvent(4, "acme", "9"), costEvent(5, "acme", "11")], 2);
    expect(await elsewhere([{ msg: second, value: decode(second) }])).toEqual([{ kind: "done", dlq: [] }]);
    expect((await jsm.streams.info(streamNames.priced)).state.last_seq).toBe(1);

    const abort = new AbortController();
    const durable = partitionDurable("ledger", 0);
    const loop = startStage({
      stage: "ledger",
      stream: streamNames.priced,
      durable,
      js,
      subjects,
      metrics,
      log,
      signal: abort.signal,
      maxDeliver: config.streams.maxDeliver,
      maxBatch: config.ledger.batchMessages,
      flushMs: config.ledger.flushMs,
      decode: local.decoder,
      handle: createLedgerHandler({ store: createLedgerStore(db.client, 30), metrics, log }),
    });
    try {
      await waitFor(
        "the ledger to acknowledge seq 1",
        async () => {
          const c = await jsm.consumers.info(streamNames.priced, durable);
          return c.ack_floor.stream_seq >= 1 && c.num_ack_pending === 0 ? true : undefined;
        },
        60_000,
      );
    } finally {
      abort.abort();
      await loop.done;
    }
    // What was acknowledged is what is stored: the events of the message delivered as seq 1.
    expect(await stored()).toEqual(["evt-4", "evt-5"]);
    expect(local.mismatches()).toBe(1);
  }, 180_000);
});
