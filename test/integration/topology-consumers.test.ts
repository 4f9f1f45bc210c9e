// The topology applied to a real nats-server creates exactly the consumers the
// stage table declares — names, filters, the notifier's short ack wait and
// deliver-new, the windower's pending bound — and nothing else; applied again
// with a changed knob, it updates the consumer in place.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager, type JetStreamManager, type ConsumerInfo } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { loadConfig } from "../../pipeline/config/config.ts";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { consumerInstances } from "../../pipeline/nats/stage-specs.ts";
import { createSubjects, streamNames } from "../../pipeline/nats/subjects.ts";
import { applyTopology } from "../../pipeline/nats/topology.ts";
import { tempHome } from "../helpers/stack-process.ts";

const home = tempHome("costline-topology-");
const settings = { COSTLINE_HOME: home, COSTLINE_PARTITIONS: "2", COSTLINE_NOTIFY_ACK_WAIT_S: "7", COSTLINE_WINDOWER_MAX_PENDING: "1234" };
let server: EmbeddedNats;
let nc: NatsConnection;
let jsm: JetStreamManager;

async function consumersOf(stream: string): Promise<ConsumerInfo[]> {
  const out: ConsumerInfo[] = [];
  for await (const c of jsm.consumers.list(stream)) out.push(c);
  return out;
}

beforeAll(async () => {
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  await applyTopology(nc, jsm, loadConfig(settings));
}, 60_000);
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("the topology from the stage table", () => {
  it("creates every declared consumer with its filter, and no other", async () => {
    const declared = consumerInstances(createSubjects("costline", 2), 2);
    const onServer: ConsumerInfo[] = [];
    for (const stream of [streamNames.events, streamNames.priced, streamNames.windows, streamNames.alerts])
      onServer.push(...(await consumersOf(stream)));
    expect(onServer.map((c) => c.name).sort()).toEqual(declared.map((c) => c.durable).sort());
    for (const d of declared) {
      const c = onServer.find((x) => x.name === d.durable)!;
      expect(c.stream_name, d.durable).toBe(d.stream);
      expect(c.config.filter_subject, d.durable).toBe(d.filter);
    }
  });

  it("applies each consumer's own settings from configuration", async () => {
    const notifier = await jsm.consumers.info(streamNames.alerts, "notifier");
    expect(notifier.config.ack_wait).toBe(nanos(7000));
    expect(notifier.config.deliver_policy).toBe("new");
    const windower = await jsm.consumers.info(streamNames.priced, "windower-p1");
    expect(windower.config.max_ack_pending).toBe(1234);
    const ledger = await jsm.consumers.info(streamNames.priced, "ledger-p1");
    expect(ledger.config.max_ack_pending).toBe(100_000);
    expect(ledger.config.deliver_policy).toBe("all");
  });

  it("updates a consumer in place when its knob changes", async () => {
    await applyTopology(nc, jsm, loadConfig({ ...settings, COSTLINE_NOTIFY_ACK_WAIT_S: "11" }));
    expect((await jsm.consumers.info(streamNames.alerts, "notifier")).config.ack_wait).toBe(nanos(11_000));
  });
});
