// `costline publish --file F` (or stdin): validates each NDJSON line, reports
// bad lines with their number on stderr, publishes the rest and prints a summary.
import type { Config } from "../config/config.ts";
import { connectNats } from "../nats/connect.ts";
import { createProducer } from "../producer/producer.ts";
import { readNdjson } from "../producer/ndjson.ts";
import { stackNats } from "./stack-nats.ts";
import type { CostlineEvent } from "../../schemas/index.ts";

export async function runPublish(config: Config, file?: string): Promise<void> {
  const nc = await connectNats(stackNats(config, "publisher"), "costline-publish");
  const producer = await createProducer({ nc, subjectPrefix: config.subjects.prefix });
  let published = 0;
  let rejected = 0;
  let pending: CostlineEvent[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    await producer.publish(batch);
    published += batch.length;
  };
  try {
    for await (const line of readNdjson(file && file !== "-" ? file : process.stdin)) {
      if ("error" in line) {
        rejected++;
        process.stderr.write(`line ${line.line}: ${line.error}\n`);
        continue;
      }
      pending.push(line.event);
      if (pending.length >= 500) await flush();
    }
    await flush();
  } finally {
    await nc.drain();
  }
  process.stdout.write(`${JSON.stringify({ published, rejected })}\n`);
  if (rejected > 0) process.exitCode = 2;
}
