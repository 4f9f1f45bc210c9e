import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { readFileSync } from "node:fs";
const home = process.argv[2]!;
const stack = JSON.parse(readFileSync(`${home}/stack.json`, "utf8"));
const creds = JSON.parse(readFileSync(`${home}/nats-auth/credentials.json`, "utf8"));
const nc = await connect({ servers: stack.nats_url.split(","), user: "costline-pipeline", pass: creds.pipeline.password, inboxPrefix: "_INBOX.costline-pipeline" });
const jsm = await jetstreamManager(nc);
async function scan(stream: string, filter: string, each: (seq: number, subj: string, data: unknown, ts: number, id?: string) => void) {
  const info = await jsm.consumers.add(stream, { ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, filter_subject: filter, inactive_threshold: nanos(60_000) });
  const c = await jetstream(nc).consumers.get(stream, info.name);
  for (;;) { let got = 0; for await (const m of await c.fetch({ max_messages: 1000, expires: 3000 })) { got++; each(m.seq, m.subject, m.json(), m.info.timestampNanos / 1e6, m.headers?.get("Nats-Msg-Id")); } if (!got) break; }
}
const key = readFileSync(`${home}/admin.key`, "utf8").trim();
const sql = async (q: string) => (await (await fetch(`${stack.api_url}/v1/sql`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ query: q }) })).text()).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
const ledger = new Set((await sql("SELECT DISTINCT event_id AS id FROM costline.ledger")).map((r: { id: string }) => r.id));
const inEvents = new Map<string, { seq: number; ts: number }>();
await scan("COSTLINE_EVENTS", "costline.events.>", (seq, _s, d, ts) => { for (const e of (Array.isArray(d) ? d : [d]) as { id: string }[]) if (!inEvents.has(e.id)) inEvents.set(e.id, { seq, ts }); });
const inPriced = new Map<string, number[]>();
const pricedMsgs: { seq: number; ts: number; n: number; subj: string; id?: string; ids: string[] }[] = [];
await scan("COSTLINE_PRICED", "costline.priced.>", (seq, subj, d, ts, id) => { const ids = (d as { event_id: string }[]).map((e) => e.event_id); pricedMsgs.push({ seq, ts, n: ids.length, subj, id, ids }); for (const x of ids) inPriced.set(x, [...(inPriced.get(x) ?? []), seq]); });
const missing = [...inEvents.keys()].filter((id) => !ledger.has(id));
console.log("unique in events stream", inEvents.size, "ledger", ledger.size, "missing", missing.length);
const notPriced = missing.filter((id) => !inPriced.has(id));
console.log("missing not in priced stream", notPriced.length, "missing in priced stream", missing.length - notPriced.length);
const seqs = new Map<number, number>();
for (const id of missing) for (const s of inPriced.get(id) ?? []) seqs.set(s, (seqs.get(s) ?? 0) + 1);
const carrying = pricedMsgs.filter((m) => seqs.has(m.seq));
console.log("priced msgs carrying missing", carrying.length, carrying.slice(0, 30).map((m) => `${m.seq}@${new Date(m.ts).toISOString().slice(11, 23)} ${m.subj} ${seqs.get(m.seq)}/${m.n}`).join("\n"));
const evSeqs = new Map<number, number>();
for (const id of notPriced) { const e = inEvents.get(id)!; evSeqs.set(e.seq, (evSeqs.get(e.seq) ?? 0) + 1); }
const es = [...evSeqs.keys()].sort((a, b) => a - b);
console.log("events seqs of never-priced missing", es.length, es[0], es[es.length - 1], new Date(inEvents.get(notPriced[0] ?? "")?.ts ?? 0).toISOString());
// timestamps monotonic in priced?
let back = 0; for (let i = 1; i < pricedMsgs.length; i++) if (pricedMsgs[i]!.ts < pricedMsgs[i - 1]!.ts - 1000) { back++; if (back < 5) console.log("ts goes back at seq", pricedMsgs[i]!.seq, new Date(pricedMsgs[i - 1]!.ts).toISOString(), new Date(pricedMsgs[i]!.ts).toISOString()); }
const byTs = pricedMsgs.map((m) => m.ts); console.log("priced seq range", pricedMsgs[0]?.seq, pricedMsgs.at(-1)?.seq, "count", pricedMsgs.length);
await nc.close();
