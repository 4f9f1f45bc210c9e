// Health aggregation (the worst check wins), a consumer's verdict from its
// samples (stalled, lagging, holding on purpose), the bounded metric labels,
// and which ClickHouse statements count as inserts of which table.
import { describe, expect, it } from "vitest";
import { aggregate, statusValue } from "../../pipeline/health/health-status.ts";
import { judgeConsumer, nextSample, type ConsumerSample } from "../../pipeline/health/consumer-watch.ts";
import { boundedLabel, createMetrics } from "../../pipeline/observability/metrics.ts";
import { insertTable } from "../../pipeline/observability/clickhouse-timing.ts";

describe("health aggregation", () => {
  it("is the worst of its checks", () => {
    const c = (name: string, status: "healthy" | "degraded" | "unhealthy") => ({ name, status, detail: "" });
    expect(aggregate([c("a", "healthy"), c("b", "healthy")]).status).toBe("healthy");
    expect(aggregate([c("a", "healthy"), c("b", "degraded")]).status).toBe("degraded");
    expect(aggregate([c("a", "unhealthy"), c("b", "degraded")]).status).toBe("unhealthy");
    expect(aggregate([c("a", "degraded"), c("b", "unhealthy"), c("c", "healthy")]).status).toBe("unhealthy");
    expect(aggregate([]).status).toBe("healthy");
    expect(["healthy", "degraded", "unhealthy"].map((s) => statusValue(s as "healthy"))).toEqual([0, 1, 2]);
  });
});

describe("a consumer's verdict", () => {
  const t = { lagMessages: 1000, stallS: 30 };
  const info = (delivered: number, ackFloor: number, pending: number, ackPending: number, redelivered = 0) => ({
    delivered: { stream_seq: delivered },
    ack_floor: { stream_seq: ackFloor },
    num_pending: pending,
    num_ack_pending: ackPending,
    num_redelivered: redelivered,
  });
  /** Feeds successive consumer infos, `stepS` apart, and judges the last. */
  function judge(infos: ReturnType<typeof info>[], stepS = 10) {
    let s: ConsumerSample | undefined;
    let now = 0;
    for (const i of infos) {
      s = nextSample(s, i, now);
      now += stepS * 1000;
    }
    return judgeConsumer("enrich", s, now - stepS * 1000, t);
  }

  it("is healthy while delivery moves, however much waits below the lag threshold", () => {
    expect(judge([info(10, 10, 50, 0), info(60, 60, 40, 0), info(100, 100, 30, 0), info(130, 130, 20, 0)])).toMatchObject({
      name: "consumer:enrich",
      status: "healthy",
    });
  });

  it("is stalled when messages wait and nothing is delivered for stallS", () => {
    const v = judge([info(10, 10, 5, 0), info(10, 10, 8, 0), info(10, 10, 9, 0), info(10, 10, 12, 0)]);
    expect(v).toEqual({ name: "consumer:enrich", status: "degraded", detail: "stalled: 12 messages waiting, no delivery for 30 s" });
    // Just under the threshold it is not.
    expect(judge([info(10, 10, 5, 0), info(10, 10, 8, 0), info(10, 10, 9, 0)]).status).toBe("healthy");
  });

  it("is stalled when handed-out messages come back unacknowledged and the ack floor stays", () => {
    const v = judge([info(50, 10, 0, 40), info(50, 10, 0, 40, 40), info(50, 10, 0, 40, 40), info(50, 10, 0, 40, 40)]);
    expect(v).toMatchObject({
      status: "degraded",
      detail: "stalled: 40 messages handed out and 40 redelivered, none acknowledged for 30 s",
    });
  });

  it("is not stalled for holding messages within their ack wait (windower, notifier)", () => {
    // Nothing redelivered: the holder keeps them alive or is within its ack wait.
    expect(judge([info(50, 10, 0, 40), info(50, 10, 0, 40), info(50, 10, 0, 40), info(50, 10, 0, 40), info(50, 10, 0, 40)]).status).toBe(
      "healthy",
    );
  });

  it("is lagging above the threshold, unreadable is unhealthy, never polled is degraded", () => {
    expect(judge([info(10, 10, 5000, 0), info(900, 900, 4000, 0)])).toMatchObject({
      status: "degraded",
      detail: "lagging: 4000 messages waiting (threshold 1000)",
    });
    const unreadable: ConsumerSample = {
      deliveredSeq: -1,
      movedAt: 0,
      ackFloorSeq: -1,
      ackMovedAt: 0,
      redelivered: 0,
      pending: 0,
      ackPending: 0,
      error: "consumer not found",
    };
    expect(judgeConsumer("ledger", unreadable, 0, t)).toEqual({
      name: "consumer:ledger",
      status: "unhealthy",
      detail: "consumer not found",
    });
    expect(judgeConsumer("ledger", undefined, 0, t).status).toBe("degraded");
  });

  it("starts its clocks again after an unreadable spell", () => {
    let s = nextSample(undefined, info(10, 10, 5, 0), 0);
    s = { ...s, error: "timeout" };
    s = nextSample(s, info(10, 10, 5, 0), 60_000);
    expect(judgeConsumer("enrich", s, 60_000, t).status).toBe("healthy");
  });
});

describe("bounded labels", () => {
  it("keeps the first N values and folds the rest into other", () => {
    const label = boundedLabel(2);
    expect(["a", "b", "c", "a", "d", "b"].map(label)).toEqual(["a", "b", "other", "a", "other", "b"]);
  });

  it("bounds the cost series by tenant and model as configured", async () => {
    const m = createMetrics({ maxTenants: 2, maxModels: 1 });
    m.addCost("acme", "gpt-4o", 1.5);
    m.addCost("globex", "gpt-4o-mini", 2);
    m.addCost("initech", "gpt-4o", 0.25);
    m.addCost("acme", "gpt-4o", 0.5);
    m.addCost("acme", "gpt-4o", -3); // a credit: counters only go up, the ledger has it
    const text = await m.registry.getSingleMetricAsString("costline_cost_usd_total");
    const series = [...text.matchAll(/^costline_cost_usd_total\{tenant="([^"]+)",model="([^"]+)"\} (\S+)$/gm)].map((x) => [
      x[1],
      x[2],
      Number(x[3]),
    ]);
    expect(series).toEqual(
      expect.arrayContaining([
        ["acme", "gpt-4o", 2],
        ["globex", "other", 2],
        ["other", "gpt-4o", 0.25],
      ]),
    );
    expect(series).toHaveLength(3);
  });
});

describe("insert timing", () => {
  it("names the table of an insert statement and nothing else", () => {
    expect(insertTable("INSERT INTO costline.ledger SETTINGS insert_deduplication_token = 'x' FORMAT JSONEachRow\n{}")).toBe("ledger");
    expect(insertTable("  insert into costline.ledger_minute (a, b) SELECT 1, 2")).toBe("ledger_minute");
    expect(insertTable("INSERT INTO TABLE `costline`.`alerts` VALUES")).toBe("alerts");
    expect(insertTable("costline.api_keys", false)).toBe("api_keys");
    expect(insertTable("SELECT 1")).toBeUndefined();
    expect(insertTable("ALTER TABLE costline.ledger DELETE WHERE 1")).toBeUndefined();
  });
});
