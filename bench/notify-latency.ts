// Delivery latency of the notifier, from an alert's publish on the alerts
// stream to its arrival at the receiver:
//   npm run bench:notify -- [--alerts 400] [--rate 20] [--group-wait 500ms] [--out FILE]
// Starts `costline up` on a scratch home with Slack, PagerDuty, webhook and
// SMTP receivers on loopback and the default severity routing, publishes
// alerts at a steady rate (severities mixed, each alert its own group so no
// group interval holds it back), and reports p50/p90/p99 per channel and
// overall — with the configured group_wait included, since an operator's
// alert waits it too. The notifier's own view (publish → 2xx, from
// costline.notification_log) is reported beside it.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { connectStack } from "../test/helpers/stack-nats.ts";
import { jetstream } from "@nats-io/jetstream";
import { startStack, tempHome, waitFor } from "../test/helpers/stack-process.ts";
import { makeAlert, publishAlert, startHttpReceivers, startSmtpReceiver } from "../test/integration/notifier-receivers.ts";

const { values: args } = parseArgs({
  options: {
    alerts: { type: "string", default: "400" },
    rate: { type: "string", default: "20" },
    "group-wait": { type: "string", default: "500ms" },
    out: { type: "string" },
  },
});
const ALERTS = Number(args.alerts);
const RATE = Number(args.rate);
const severities = ["critical", "high", "medium", "info"] as const;
// Channels each severity reaches under the default routing (webhooks get everything).
const expected = { critical: 4, high: 3, medium: 2, info: 2 } as const;

const http = await startHttpReceivers();
const smtp = await startSmtpReceiver();
const home = tempHome("costline-bench-notify-");
const configFile = path.join(home, "notify.json");
// The default severity routing, written out (a route tree in the file replaces it), with the group_wait asked for.
const routes = [
  { matchers: [], channels: ["webhook"], continue: true },
  { matchers: ["severity=critical"], channels: ["slack", "pagerduty", "email"] },
  { matchers: ["severity=high"], channels: ["slack", "pagerduty"] },
  { matchers: ["severity=medium"], channels: ["slack"] },
  { matchers: ["severity=info"], channels: ["email"] },
];
writeFileSync(
  configFile,
  JSON.stringify({
    notify: {
      channels: {
        slack: { type: "slack", url: `${http.base}/slack` },
        pagerduty: { type: "pagerduty", routing_key: "bench", url: `${http.base}/pd` },
        webhook: { type: "webhook", url: `${http.base}/hook`, secret: "bench-secret" },
        email: { type: "email", smtp: { host: "127.0.0.1", port: smtp.port }, from: "costline@example.com", to: ["ops@example.com"] },
      },
      route: { group_wait: args["group-wait"], routes },
    },
  }),
);

// COSTLINE_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the pipeline process.
const nodeArgs = (process.env.COSTLINE_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
const stack = await startStack(home, { COSTLINE_CONFIG: configFile, COSTLINE_LOG_LEVEL: "warn" }, [], nodeArgs);
const nc = await connectStack(stack);
const js = jetstream(nc);

const publishedAt = new Map<string, number>();
const t0 = performance.now();
for (let i = 0; i < ALERTS; i++) {
  const due = t0 + (i * 1000) / RATE;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const tenant = `bench-${i}`;
  const a = makeAlert({ tenant, severity: severities[i % severities.length]!, persona: `p-${i}` });
  publishedAt.set(tenant, Date.now());
  await publishAlert(js, a);
}
const total = [...publishedAt.keys()].reduce((n, _t, i) => n + expected[severities[i % severities.length]!], 0);
const arrivals = () => {
  const out: { channel: string; ms: number }[] = [];
  const tenantOf = (s: string) => /bench-\d+/.exec(s)?.[0];
  for (const r of http.requests) {
    const channel = r.path.slice(1);
    const tenant = tenantOf(r.body);
    if (tenant && publishedAt.has(tenant)) out.push({ channel, ms: r.at - publishedAt.get(tenant)! });
  }
  for (const m of smtp.mails) {
    const tenant = tenantOf(m.raw);
    if (tenant && publishedAt.has(tenant)) out.push({ channel: "email", ms: m.at - publishedAt.get(tenant)! });
  }
  return out;
};
await waitFor("every delivery", async () => (arrivals().length >= total ? true : undefined), 120_000);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]! : null;
};
const summary = (xs: number[]) => ({
  n: xs.length,
  p50: quantile(xs, 0.5),
  p90: quantile(xs, 0.9),
  p99: quantile(xs, 0.99),
  max: quantile(xs, 1),
});
const all = arrivals();
const byChannel = Object.fromEntries(
  ["slack", "pd", "hook", "email"].map((c) => [c, summary(all.filter((x) => x.channel === c).map((x) => x.ms))]),
);
const [log] = await waitFor("the delivery log", async () => {
  const r = await stack.sql<{ n: string; p50: number; p99: number }>(
    "SELECT toString(count()) AS n, quantileExact(0.5)(latency_ms) AS p50, quantileExact(0.99)(latency_ms) AS p99 FROM costline.notification_log WHERE result = 'delivered' AND startsWith(tenant, 'bench-')",
  );
  return Number(r[0]?.n ?? 0) >= total ? r : undefined;
});
const result = {
  alerts: ALERTS,
  rate_per_s: RATE,
  group_wait: args["group-wait"],
  deliveries: all.length,
  latency_ms: summary(all.map((x) => x.ms)),
  by_channel: byChannel,
  notifier_log_latency_ms: { deliveries: Number(log!.n), p50: log!.p50, p99: log!.p99 },
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
if (args.out) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);

await nc.close();
await stack.stop();
await http.close();
await smtp.close();
