// `costline detect --input`: replays a timestamp,value series (the Numenta
// Anomaly Benchmark's format) through a registry detector, streaming: each row
// is scored only from the rows before it. Writes
// timestamp,value,anomaly_score,is_anomaly. The detector is the same code the
// live engine runs per window series (registry.ts).
import { createReadStream, createWriteStream } from "node:fs";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { CostlineError } from "../errors.ts";
import { defaultSeriesDetector, seriesDetectorFactory } from "./registry.ts";

export type { SeriesDetector } from "./series-detector.ts";

export async function replaySeries(
  input: string,
  output: string,
  name = defaultSeriesDetector,
  params: Record<string, unknown> = {},
): Promise<{ rows: number; anomalies: number }> {
  const { make, threshold } = seriesDetectorFactory(name, params);
  const detector = make();
  const rl = createInterface({ input: createReadStream(input, "utf8"), crlfDelay: Infinity });
  const out = createWriteStream(output);
  out.write("timestamp,value,anomaly_score,is_anomaly\n");
  let line = 0;
  let rows = 0;
  let anomalies = 0;
  for await (const text of rl) {
    line++;
    if (line === 1) {
      if (!/^timestamp,value/i.test(text.trim()))
        throw new CostlineError(`${input}: expected a "timestamp,value" header, got "${text.slice(0, 60)}"`);
      continue;
    }
    if (text.trim() === "") continue;
    const [ts, raw] = text.split(",");
    const value = Number(raw);
    const at = new Date(`${ts?.trim().replace(" ", "T")}Z`);
    if (!ts || raw === undefined || !Number.isFinite(value) || Number.isNaN(at.getTime()))
      throw new CostlineError(`${input}:${line}: expected "timestamp,value", got "${text.slice(0, 80)}"`);
    const score = detector.score(value, at);
    const flag = score >= threshold ? 1 : 0;
    anomalies += flag;
    rows++;
    if (!out.write(`${ts.trim()},${raw.trim()},${score.toFixed(6)},${flag}\n`)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  return { rows, anomalies };
}
