// Fake notification receivers on loopback for the notifier suites: one HTTP
// server standing in for Slack incoming webhooks, the PagerDuty Events API and
// generic webhooks (each path scripted: answer, fail, rate-limit, hang), and
// a real SMTP server (smtp-server) collecting e-mails. Plus a way to build
// and publish alerts the way the detector does.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import type { JetStreamClient } from "@nats-io/jetstream";
import { createHash } from "node:crypto";
import type { Alert } from "../../schemas/index.ts";

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  at: number;
  /** The status answered, or null while the request is held (never answered). */
  status: number | null;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Never answer (the request hangs until the client gives up or dies). */
  hold?: boolean;
}

export type Script = (nth: number, req: Received) => Reply;

export async function startHttpReceivers() {
  const requests: Received[] = [];
  const scripts = new Map<string, Script>();
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const path = req.url ?? "/";
      const r: Received = { path, headers: req.headers, body, json, at: Date.now(), status: null };
      requests.push(r);
      const nth = requests.filter((x) => x.path === path).length;
      const reply = (scripts.get(path) ?? defaultReply(path))(nth, r);
      if (reply.hold) {
        held.push(res);
        return;
      }
      r.status = reply.status;
      res.writeHead(reply.status, reply.headers ?? {});
      res.end(reply.body ?? "");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    requests,
    on: (path: string, script: Script) => scripts.set(path, script),
    to: (path: string) => requests.filter((r) => r.path === path),
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function defaultReply(path: string): Script {
  if (path.startsWith("/pd")) return () => ({ status: 202, body: JSON.stringify({ status: "success", message: "Event processed" }) });
  if (path.startsWith("/slack")) return () => ({ status: 200, body: "ok" });
  return () => ({ status: 200, body: "{}" });
}

export interface Mail {
  from: string;
  to: string[];
  raw: string;
  subject: string;
  messageId: string;
  at: number;
}

/** A real SMTP server (no TLS, no auth) that keeps every message it accepts. */
export async function startSmtpReceiver() {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        const header = (name: string) =>
          new RegExp(`^${name}:\\s*(.*(?:\\r?\\n[ \\t].*)*)`, "im")
            .exec(raw)?.[1]
            ?.replace(/\r?\n[ \t]+/g, " ")
            .trim() ?? "";
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          subject: header("Subject"),
          messageId: header("Message-ID"),
          at: Date.now(),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const hash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 32);

/** An alert as the detector builds it; `series` names the fingerprint, `at` makes the id. */
export function makeAlert(o: {
  tenant: string;
  severity?: Alert["severity"];
  type?: Alert["type"];
  status?: Alert["status"];
  persona?: string;
  series?: string;
  at?: Date;
  observed?: string;
  expected?: string;
}): Alert {
  const type = o.type ?? "spike";
  const persona = o.persona ?? "p-1";
  const at = o.at ?? new Date();
  const fingerprint = hash(`${type}|${o.series ?? `${o.tenant}/${persona}`}`);
  const status = o.status ?? "firing";
  const severity = o.severity ?? "critical";
  const start = new Date(Math.floor(at.getTime() / 60_000) * 60_000);
  return {
    id: hash(`${fingerprint}|${status}|${severity}|${at.toISOString()}`),
    fingerprint,
    type,
    severity,
    status,
    tenant: o.tenant,
    scope: "tenant_persona",
    scope_key: { tenant: o.tenant, persona_id: persona },
    observed: o.observed ?? "12.5",
    expected: o.expected ?? "1.25",
    multiplier: 10,
    score: 8.2,
    window_start: start.toISOString(),
    window_end: new Date(start.getTime() + 60_000).toISOString(),
    first_seen: at.toISOString(),
    detected_at: at.toISOString(),
    message: `${type} on ${o.tenant}/${persona}`,
    evidence: {
      by_model: [{ key: "gpt-4o", cost_usd: "10.1", share: 0.81 }],
      by_operation: [{ key: "hook_generation", cost_usd: "9", share: 0.72 }],
      by_post: [{ key: "post-loop", cost_usd: "7.5", share: 0.6 }],
      by_user: [{ key: "u-17", cost_usd: "6", share: 0.48 }],
    },
  };
}

/** Publishes like the detector: on costline.alerts.<severity>.<type>, deduplicated by alert id. */
export async function publishAlert(js: JetStreamClient, a: Alert, msgID = `alert:${a.id}`): Promise<void> {
  await js.publish(`costline.alerts.${a.severity}.${a.type}`, JSON.stringify(a), { msgID });
}
