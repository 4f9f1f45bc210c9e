// One window in, alerts out: the engine's findings become firing alerts, the
// detectors that found a series normal again resolve its alerts, and tenant
// windows feed the budgets. Synchronous and pure apart from the clock; the
// stage adds evidence from ClickHouse and publishes.
import type { Alert, WindowAggregate } from "../../schemas/index.ts";
import { alertFingerprint, createAlertBook, windowEvidence } from "./alert-book.ts";
import { createBudgetTracker, type BudgetTracker } from "../budgets/budget-tracker.ts";
import { defaultDetectorConfig, type DetectorConfig } from "./detectors.ts";
import { createEngine } from "./engine.ts";

export interface DetectorOptions {
  config?: DetectorConfig;
  cooldownMs?: number;
  budgets?: BudgetTracker;
}

export function createDetector(opts: DetectorOptions = {}) {
  const engine = createEngine(opts.config ?? defaultDetectorConfig);
  const book = createAlertBook({ cooldownMs: opts.cooldownMs ?? 60 * 60_000 });
  const budgets = opts.budgets ?? createBudgetTracker();

  return {
    engine,
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
