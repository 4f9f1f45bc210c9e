import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { readFileSync } from "node:fs";
const home = process.argv[2]!;
const stack = JSON.parse(readFileSync(`${home}/stack.json`, "utf8"));
const creds = JSON.parse(readFileSync(`${home}/nats-auth/credentials.json`, "utf8"));
const nc = await connect({ servers: stack.nats_url.split(","), user: "costline-pipeline", pass: creds.pipeline.password, inboxPrefix: "_INBOX.costline-pipeline" });
const jsm = await jetstreamManager(nc);
const info = await jsm.consumers.add("COSTLINE_WINDOWS", { ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, filter_subject: "costline.windows.tenant.*", inactive_threshold: nanos(60_000) });
const c = await jetstream(nc).consumers.get("COSTLINE_WINDOWS", info.name);
const last = new Map<string, { events: number; final: boolean }>();
for (;;) { let got = 0; for await (const m of await c.fetch({ max_messages: 1000, expires: 3000 })) { got++; for (const w of m.json<{ tenant: string; window_start: string; events: number; final: boolean }[]>()) if (w.tenant.startsWith(process.argv[3]!)) { const k = w.window_start; const prev = last.get(k); if (!prev || !prev.final) last.set(k, { events: w.events, final: w.final }); } } if (!got) break; }
for (const [k, v] of [...last].sort()) if (k >= "2026-12-01T19:17:20" && k < "2026-12-01T19:18:30") console.log(k, v.events, v.final);
await nc.close();
