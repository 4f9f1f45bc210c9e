// One window in, alerts out: the engine's findings become firing alerts, the
// detectors that found a series normal again resolve its alerts, and tenant
// windows feed the budgets. Synchronous and pure apart from the clock: the
// detector stage and `costline detect --tenant` (the ledger replay) both run
// exactly this, so a replay shows what the stage would have raised.
import type { Alert, WindowAggregate } from "../../schemas/index.ts";
import { alertFingerprint, createAlertBook, windowEvidence } from "./alert-book.ts";
import { createBudgetTracker, type BudgetTracker } from "../budgets/budget-tracker.ts";
import { defaultDetectionConfig, type DetectionConfig } from "./cost-checks.ts";
import { createEngine } from "./engine.ts";
import type { Config } from "../config/config.ts";

export interface DetectorOptions {
  /** The `detection` configuration: series detector, checks, hygiene, sensitivity per scope. */
  detection?: Partial<DetectionConfig>;
  /** Overrides detection.hygiene.cooldownS (COSTLINE_ALERT_COOLDOWN_S). */
  cooldownMs?: number;
  budgets?: BudgetTracker;
}

/** The detector as the stage configures it; the ledger replay builds the same. */
export function detectorOptions(config: Pick<Config, "detection" | "detector" | "api">): DetectorOptions {
  const d = config.detection;
  return {
    detection: {
      ...d,
      checks: {
        ...d.checks,
        costPerPost: { multiple: config.detector.costPerPostMultiple, targetUsd: Number(config.api.targetCostPerPost) },
      },
    },
    cooldownMs: d.hygiene.cooldownS * 1000,
  };
}

export function createDetector(opts: DetectorOptions = {}) {
  const d = { ...defaultDetectionConfig, ...opts.detection };
  const engine = createEngine({
    checks: d.checks,
    detector: d.detector,
    params: d.params,
    scopes: d.scopes,
    clearBelow: d.hygiene.clearBelow,
  });
  const book = createAlertBook({ cooldownMs: opts.cooldownMs ?? d.hygiene.cooldownS * 1000, resolveWindows: d.hygiene.resolveWindows });
  const budgets = opts.budgets ?? createBudgetTracker();

  return {
    engine,
    /** The alert book (its state goes into the detector's checkpoint). */
    book,
    budgets,
    process(w: WindowAggregate, now = new Date()): Alert[] {
      const out: Alert[] = [];
      // Per-user windows exist for user budgets; users are too many and too
      // sparse for baselines of their own.
      if (w.scope !== "tenant_user") {
        const ev = engine.evaluate(w);
        for (const f of ev.findings) {
          const a = book.fire(ev.series, w, f, windowEvidence(w), now);
          if (a) out.push(a);
        }
        for (const type of ev.hold ?? []) book.hold(ev.series, type);
        for (const type of ev.clear) {
          const a = book.resolve(ev.series, w, type, now);
          if (a) out.push(a);
        }
        if (w.scope === "post") for (const id of engine.evictIdlePosts()) book.forget(alertFingerprint("cost_per_post", id));
      }
      for (const b of budgets.add(w)) {
        const a = book.fire(b.series, w, b.finding, windowEvidence(w), now);
        if (a) out.push({ ...a, budget: b.budget });
      }
      return out;
    },
  };
}
export type Detector = ReturnType<typeof createDetector>;
