// A replay of final windows through the detector exactly as the stage builds
// it (detectorOptions): the alerts it would have raised, with the time each
// window would have become final (its end plus the allowed lateness) as the
// detection time, so cooldowns behave as they did live.
import type { Config } from "../config/config.ts";
import type { Alert, WindowAggregate } from "../../schemas/index.ts";
import { createDetector, detectorOptions } from "./detector.ts";

export function replayWindows(
  config: Pick<Config, "detection" | "detector" | "api" | "windows">,
  windows: readonly WindowAggregate[],
  opts: { from?: string } = {},
): { alerts: Alert[]; replayed: number; warmup: number } {
  const detector = createDetector(detectorOptions(config));
  const from = opts.from ? Date.parse(opts.from) : Number.NEGATIVE_INFINITY;
  const alerts: Alert[] = [];
  let warmup = 0;
  for (const w of windows) {
    const raised = detector.process(w, new Date(Date.parse(w.window_end) + config.windows.latenessS * 1000));
    if (Date.parse(w.window_start) < from) warmup++;
    else alerts.push(...raised);
  }
  return { alerts, replayed: windows.length - warmup, warmup };
}
