// The detection engine's registry and alert hygiene, on hand-made window
// series: the registry names what the stage and `costline detect` run, the
// spike check scores each series with the registry's detector, and an
// incident raises one alert, escalates when it worsens, resolves after
// enough normal windows, and shares an incident id across nested scopes.
import { describe, expect, it } from "vitest";
import { createDetector } from "../../pipeline/detect/detector.ts";
import {
  costChecks,
  detectorParams,
  findSeriesDetector,
  paramDefaults,
  seriesDetectorFactory,
  seriesDetectors,
} from "../../pipeline/detect/registry.ts";
import { defaultDetectionConfig, detectionSchema } from "../../pipeline/detect/cost-checks.ts";
import { replayWindows } from "../../pipeline/detect/replay.ts";
import type { Alert, WindowAggregate } from "../../schemas/index.ts";
import { writeFileSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../pipeline/config/config.ts";

const T0 = Date.UTC(2026, 10, 23, 8);
const STEP = 60_000;

function win(
  scope: WindowAggregate["scope"],
  key: Record<string, string>,
  i: number,
  cost: number,
  opts: { final?: boolean; post?: string } = {},
): WindowAggregate {
  const c = cost.toFixed(6);
  return {
    scope,
    key,
    tenant: key.tenant!,
    window_start: new Date(T0 + i * STEP).toISOString(),
    window_end: new Date(T0 + (i + 1) * STEP).toISOString(),
    events: 10,
    unpriced_events: 0,
    cost_usd: c,
    revenue_usd: "0",
    input_tokens: 0,
    output_tokens: 0,
    requests: 0,
    by_model: { "gpt-4o": c },
    by_operation: { chat: c },
    top_posts: { [opts.post ?? "post-1"]: c },
    top_users: {},
    final: opts.final ?? true,
    emitted_at: new Date(T0 + (i + 1) * STEP).toISOString(),
  };
}

/** A steady series: about $0.10 a window with a little noise, deterministic. */
const steady = (i: number) => 0.1 + ((i * 7) % 5) * 0.002;

function run(
  costs: number[],
  opts: Parameters<typeof createDetector>[0] = {},
  scopes: [WindowAggregate["scope"], Record<string, string>][] = [["tenant", { tenant: "acme" }]],
): Alert[] {
  const d = createDetector(opts);
  const out: Alert[] = [];
  costs.forEach((c, i) => {
    for (const [scope, key] of scopes) out.push(...d.process(win(scope, key, i, c), new Date(T0 + (i + 1) * STEP)));
  });
  return out;
}

const baseline = Array.from({ length: 20 }, (_, i) => steady(i));

describe("detector registry", () => {
  it("names every series detector once, with parameters that all default and a threshold", () => {
    const names = seriesDetectors.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain("spike");
    for (const d of seriesDetectors) {
      const p = paramDefaults(d.params);
      expect(typeof p.threshold).toBe("number");
      const s = d.create().score(1, new Date(T0));
      expect(s >= 0 && s <= 1).toBe(true);
    }
    expect(costChecks.map((c) => c.name)).toEqual(expect.arrayContaining(["spike", "efficiency", "roi", "budget", "cost_per_post"]));
  });

  it("keeps the seed thresholds as the cost checks' defaults", () => {
    const c = defaultDetectionConfig.checks;
    expect([c.spike.medium, c.spike.high, c.spike.critical]).toEqual([3, 3.5, 5]);
    expect(c.efficiency.worseBy).toBe(0.3);
    expect(c.roi.floor).toBe(-0.5);
  });

  it("refuses an unknown detector and invalid parameters with the reason", () => {
    expect(() => findSeriesDetector("magic")).toThrow(/unknown detector "magic" \(detectors: spike/);
    expect(() => detectorParams("spike", { midZ: -1 })).toThrow(/detector "spike": invalid parameters: midZ/);
    expect(() => detectionSchema.parse({ scopes: { tenant: { threshold: 2 } } })).toThrow();
  });

  it("applies live defaults only to the live engine", () => {
    expect(seriesDetectorFactory("spike").params.minHistory).toBe(30);
    expect(seriesDetectorFactory("spike", {}, { live: true }).params.minHistory).toBe(12);
    expect(seriesDetectorFactory("spike", { minHistory: 20 }, { live: true }).params.minHistory).toBe(20);
  });
});

describe("detection configuration", () => {
  const file = (body: unknown) => {
    const f = path.join(mkdtempSync(path.join(os.tmpdir(), "costline-detection-")), "config.json");
    writeFileSync(f, JSON.stringify(body));
    return f;
  };

  it("reads the detector, its parameters, hygiene and sensitivity per scope from the file once", () => {
    const c = loadConfig({
      COSTLINE_CONFIG: file({
        detection: { detector: "seasonal", params: { minDays: 2 }, hygiene: { resolveWindows: 3 }, scopes: { post: { off: true } } },
      }),
    });
    expect(c.detection).toMatchObject({
      detector: "seasonal",
      params: { minDays: 2 },
      hygiene: { resolveWindows: 3, cooldownS: 3600 },
      scopes: { post: { off: true } },
    });
    expect(c.detection.checks.spike.medium).toBe(3);
    // The environment names the detector and the cooldown over the file.
    expect(
      loadConfig({
        COSTLINE_DETECTOR: "spike",
        COSTLINE_ALERT_COOLDOWN_S: "60",
        COSTLINE_CONFIG: file({ detection: { detector: "seasonal" } }),
      }).detection,
    ).toMatchObject({ detector: "spike", hygiene: { cooldownS: 60 } });
  });

  it("stops at start on an unknown detector, bad parameters or an unknown scope", () => {
    expect(() => loadConfig({ COSTLINE_DETECTOR: "magic" })).toThrow(/invalid configuration: unknown detector "magic"/);
    expect(() => loadConfig({ COSTLINE_CONFIG: file({ detection: { params: { midZ: "high" } } }) })).toThrow(
      /invalid configuration: detector "spike": invalid parameters: midZ/,
    );
    expect(() => loadConfig({ COSTLINE_CONFIG: file({ detection: { scopes: { galaxy: { off: true } } } }) })).toThrow(
      /invalid config file: detection\.scopes/,
    );
  });
});

describe("spike check", () => {
  it("fires when the registry detector scores the window anomalous and it is at a band's multiple, naming baseline, score and cause", () => {
    const alerts = run([...baseline, 0.6]);
    expect(alerts).toHaveLength(1);
    const a = alerts[0]!;
    expect(a).toMatchObject({ type: "spike", severity: "critical", status: "firing", observed: "0.6" });
    expect(a.score).toBeGreaterThanOrEqual(0.5);
    expect(a.score).toBeLessThanOrEqual(1);
    expect(a.evidence.detector).toBe("spike");
    expect(a.evidence.baseline).toMatch(/^median of the last 20 windows$/);
    expect(a.evidence.cause).toBe("model gpt-4o (100 % of cost), operation chat (100 % of cost), post post-1 (100 % of cost)");
    expect(a.message).toMatch(/score [01]\.\d\d\); likely cause: model gpt-4o/);
  });

  it("does not fire on a multiple the series' own noise explains", () => {
    // A noisy series: 3× swings are its normal, so the robust score stays low.
    const noisy = Array.from({ length: 40 }, (_, i) => (i % 2 ? 0.05 : 0.2));
    expect(run([...noisy, 0.3]).filter((a) => a.type === "spike")).toEqual([]);
  });

  it("takes sensitivity per scope from the configuration", () => {
    const scopes: [WindowAggregate["scope"], Record<string, string>][] = [
      ["tenant", { tenant: "acme" }],
      ["tenant_persona", { tenant: "acme", persona_id: "p1" }],
    ];
    const off = run([...baseline, 0.6], { detection: { ...defaultDetectionConfig, scopes: { tenant: { off: true } } } }, scopes);
    expect(off.map((a) => a.scope)).toEqual(["tenant_persona"]);
    // A 6× spike is under a 10× medium band: nothing; the band scales with it (critical at 50/3×).
    expect(run([...baseline, 0.6], { detection: { ...defaultDetectionConfig, scopes: { tenant: { spikeMultiplier: 10 } } } })).toEqual([]);
    expect(
      run([...baseline, 1.1], { detection: { ...defaultDetectionConfig, scopes: { tenant: { spikeMultiplier: 10 } } } })[0]?.severity,
    ).toBe("medium");
  });

  it("judges an open window with the detector's peek, without learning it", () => {
    const d = createDetector();
    baseline.forEach((c, i) => d.process(win("tenant", { tenant: "acme" }, i, c)));
    const early = d.process(win("tenant", { tenant: "acme" }, 20, 0.6, { final: false }));
    expect(early[0]).toMatchObject({ type: "spike", status: "firing" });
    expect(early[0]!.message).toMatch(/window still open/);
    // The final window of the same incident merges into the alert: nothing new.
    expect(d.process(win("tenant", { tenant: "acme" }, 20, 0.6))).toEqual([]);
  });
});

describe("alert hygiene", () => {
  it("raises one alert for a sustained incident, and again only when it gets more severe", () => {
    const alerts = run([...baseline, 0.35, 0.36, 0.34, 0.6, 0.35]);
    expect(alerts.map((a) => [a.status, a.severity])).toEqual([
      ["firing", "medium"],
      ["firing", "critical"],
    ]);
    expect(new Set(alerts.map((a) => a.fingerprint)).size).toBe(1);
    expect(alerts[1]!.first_seen).toBe(alerts[0]!.first_seen);
  });

  it("resolves only after two normal windows in a row, and a window between firing and normal counts as neither", () => {
    // 0.6 fires; 0.1 is normal (1); 0.25 (2.5×: above the 2× clear line, below 3×) breaks the row; 0.1, 0.1 resolve.
    const alerts = run([...baseline, 0.6, 0.1, 0.25, 0.1, 0.1]);
    expect(alerts.map((a) => a.status)).toEqual(["firing", "resolved"]);
    expect(alerts[1]!.window_start).toBe(new Date(T0 + 24 * STEP).toISOString());
    expect(alerts[1]!.message).toMatch(/^back to normal: /);
    // With one normal window configured, the first normal window resolves.
    const quick = run([...baseline, 0.6, 0.1], {
      detection: { ...defaultDetectionConfig, hygiene: { ...defaultDetectionConfig.hygiene, resolveWindows: 1 } },
    });
    expect(quick.map((a) => a.status)).toEqual(["firing", "resolved"]);
  });

  it("repeats a still-firing alert once its cooldown has passed", () => {
    const alerts = run([...baseline, 0.6, 0.6, 0.6, 0.6], { cooldownMs: 2 * STEP });
    expect(alerts.map((a) => a.status)).toEqual(["firing", "firing"]);
    expect(alerts[1]!.window_start).toBe(new Date(T0 + 22 * STEP).toISOString());
  });

  it("gives overlapping alerts of one tenant's nested scopes one incident id, and a later incident a new one", () => {
    const scopes: [WindowAggregate["scope"], Record<string, string>][] = [
      ["tenant", { tenant: "acme" }],
      ["tenant_persona", { tenant: "acme", persona_id: "p1" }],
    ];
    const alerts = run([...baseline, 0.6, 0.1, 0.1, ...baseline, 0.6], {}, scopes);
    const firing = alerts.filter((a) => a.status === "firing");
    expect(firing.map((a) => a.scope)).toEqual(["tenant", "tenant_persona", "tenant", "tenant_persona"]);
    expect(firing[0]!.evidence.incident).toBe(firing[1]!.evidence.incident);
    expect(firing[2]!.evidence.incident).toBe(firing[3]!.evidence.incident);
    expect(firing[2]!.evidence.incident).not.toBe(firing[0]!.evidence.incident);
  });
});

describe("replay", () => {
  it("raises exactly what the detector raises on the same windows, with the time a window became final", () => {
    const windows = [...baseline, 0.6, 0.1, 0.1].map((c, i) => win("tenant", { tenant: "acme" }, i, c));
    const config = {
      detection: defaultDetectionConfig,
      detector: { costPerPostMultiple: 2, warmStartHours: 24, cooldownS: 3600 },
      api: { targetCostPerPost: "0.05" },
      windows: { windowS: 60, latenessS: 120, emitMs: 500, maxPending: 1 },
    };
    const r = replayWindows(config as never, windows, { from: new Date(T0 + 10 * STEP).toISOString() });
    expect(r).toMatchObject({ replayed: 13, warmup: 10 });
    const d = createDetector({ detection: defaultDetectionConfig, cooldownMs: 3600_000 });
    const direct = windows.flatMap((w) => d.process(w, new Date(Date.parse(w.window_end) + 120_000)));
    expect(r.alerts).toEqual(direct);
    expect(r.alerts[0]!.detected_at).toBe(new Date(T0 + 21 * STEP + 120_000).toISOString());
  });
});
