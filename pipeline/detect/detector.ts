// One window in, alerts out: the engine's findings become firing alerts, the
// detectors that found a series normal again resolve its alerts, and tenant
// windows feed the budgets. Synchronous and pure apart from the clock; the
// stage adds evidence from ClickHouse and publishes.
import type { Alert, WindowAggregate } from "../../schemas/index.ts";
import { createAlertBook, windowEvidence } from "./alert-book.ts";
import { createBudgetTracker, type BudgetTracker } from "./budget.ts";
import { defaultDetectorConfig, type DetectorConfig } from "./detectors.ts";
import { createEngine, seriesId } from "./engine.ts";

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
      const ev = engine.evaluate(w);
      for (const f of ev.findings) {
        const a = book.fire(ev.series, w, f, windowEvidence(w), now);
        if (a) out.push(a);
      }
      for (const type of ev.clear) {
        const a = book.resolve(ev.series, w, type, now);
        if (a) out.push(a);
      }
      if (w.scope === "tenant")
        for (const f of budgets.add(w.tenant, new Date(w.window_end), Number(w.cost_usd), w.final)) {
          const a = book.fire(seriesId(w), w, f, windowEvidence(w), now);
          if (a) out.push(a);
        }
      return out;
    },
  };
}
export type Detector = ReturnType<typeof createDetector>;
