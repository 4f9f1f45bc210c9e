// The stage table is the one declaration of each stage: the consumer list that
// topology and health use, the runner's knobs and the CLI's stage help all
// come from it. These checks pin the names other tools rely on (DESIGN.md's
// durables) and that a change to one entry reaches every derived list.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../pipeline/config/config.ts";
import { createSubjects } from "../../pipeline/nats/subjects.ts";
import { consumerInstances, partitionConsumers, stageNames, stageSpecs, stagesHelp } from "../../pipeline/nats/stage-specs.ts";
import { pipelineConsumersFor } from "../../pipeline/nats/topology.ts";
import { stageRegistry } from "../../pipeline/stack/stage-registry.ts";

const subjects = createSubjects("costline", 3);

describe("the stage table", () => {
  it("derives every durable consumer: shared ones once, partitioned ones once per partition", () => {
    const names = consumerInstances(subjects, 3).map((c) => c.durable);
    expect(names).toEqual([
      "enrich",
      "ledger-p0",
      "ledger-p1",
      "ledger-p2",
      "windower-p0",
      "windower-p1",
      "windower-p2",
      "detector-p0",
      "detector-posts-p0",
      "detector-p1",
      "detector-posts-p1",
      "detector-p2",
      "detector-posts-p2",
      "alerts-ledger",
      "notifier",
    ]);
    expect(new Set(names).size).toBe(names.length);
  });

  it("gives each partition's consumers that partition's subjects, and the detector's lanes their own filters", () => {
    const [ledger] = partitionConsumers("ledger", subjects, 2);
    expect(ledger!.filter).toBe("costline.priced.*.2");
    const [main, posts] = partitionConsumers("detector", subjects, 1);
    expect(main!.filter).toBe("costline.windows.*.1");
    expect(posts!.filter).toBe("costline.windows.post.1");
    const shared = consumerInstances(subjects, 3).filter((c) => !c.partOf);
    expect(shared.map((c) => c.filter)).toEqual(["costline.events.>", "costline.alerts.>", "costline.alerts.>"]);
  });

  it("is what health watches (pipelineConsumersFor), each partition's consumer part of its stage", () => {
    const watched = pipelineConsumersFor(3);
    expect(watched.map((c) => c.durable)).toEqual(consumerInstances(subjects, 3).map((c) => c.durable));
    expect(watched.find((c) => c.durable === "detector-posts-p2")?.partOf).toBe("detector");
    expect(watched.find((c) => c.durable === "enrich")?.partOf).toBeUndefined();
  });

  it("carries the runner's batch knobs from configuration", () => {
    const config = loadConfig({ COSTLINE_HOME: "/nonexistent", COSTLINE_LEDGER_BATCH_MESSAGES: "77", COSTLINE_ENRICH_FLUSH_MS: "9" });
    expect(stageSpecs.ledger.consumers[0].batch(config)).toMatchObject({ maxBatch: 77, concurrency: 2 });
    expect(stageSpecs.enrich.consumers[0].batch(config)).toMatchObject({ flushMs: 9, maxBatchBytes: 1 << 20 });
    expect(stageSpecs.notifier.consumers[0].settings(config)).toEqual({ ackWaitS: config.notify.ackWaitS, deliverPolicy: "new" });
  });

  it("has a factory for every stage it declares, and the CLI's help names each with its summary", () => {
    expect(Object.keys(stageRegistry).sort()).toEqual([...stageNames].sort());
    const help = stagesHelp().split("\n");
    expect(help).toHaveLength(stageNames.length);
    for (const [i, name] of stageNames.entries()) {
      expect(help[i]!.startsWith(`  ${name} `), help[i]).toBe(true);
      expect(help[i]!.trimEnd().endsWith(stageSpecs[name].summary), help[i]).toBe(true);
    }
  });
});
