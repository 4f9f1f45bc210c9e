// Turns the "notify" section of the config file (and the environment) into
// the notifier's settings: secrets resolved from the environment, channels
// from the COSTLINE_SLACK_WEBHOOK_URL-style shortcuts added, the default
// severity routing filled in when no route tree is given, and every channel
// a route names checked to exist. Called once, from loadConfig.
import * as z from "zod";
import {
  notifyFileSchema,
  type ChannelConfig,
  type InhibitRule,
  type NotifyFileConfig,
  type RouteConfig,
  type SecretRef,
} from "../../schemas/index.ts";
import { ConfigError, formatIssues } from "../errors.ts";

export type ChannelType = ChannelConfig["type"];

interface ChannelBase {
  name: string;
  sendResolved: boolean;
  onUncertain: "resend" | "skip";
}
export type ResolvedChannel =
  | (ChannelBase & { type: "slack"; url: string })
  | (ChannelBase & { type: "pagerduty"; url: string; routingKey: string })
  | (ChannelBase & { type: "webhook"; url: string; secret?: string; headers: Record<string, string> })
  | (ChannelBase & {
      type: "email";
      smtp: { url?: string; host?: string; port: number; secure: boolean; user?: string; password?: string };
      from: string;
      to: string[];
    });

export interface NotifyConfig {
  channels: Record<string, ResolvedChannel>;
  /** The root route, with group_by and the three intervals always set. */
  route: RouteConfig & Required<Pick<RouteConfig, "group_by" | "group_wait" | "group_interval" | "repeat_interval">>;
  inhibit: InhibitRule[];
  inhibitMaxAgeMs: number;
  retry: NotifyFileConfig["retry"];
  links: NotifyFileConfig["links"];
  /** The notifier consumer's ack wait; held messages are kept alive with `working()`. */
  ackWaitS: number;
}

const rootDefaults = { group_by: ["tenant", "type"], group_wait: 500, group_interval: 30_000, repeat_interval: 4 * 3_600_000 };

/** critical → Slack, PagerDuty, e-mail; high → Slack, PagerDuty; medium → Slack; info (low) → e-mail; webhooks get everything. */
export function defaultRoutes(channels: Record<string, { type: ChannelType }>): RouteConfig[] {
  const ofType = (...types: ChannelType[]) => Object.keys(channels).filter((n) => types.includes(channels[n]!.type));
  const bySeverity = (severity: string, ...types: ChannelType[]): RouteConfig => ({
    matchers: [{ name: "severity", op: "=", value: severity }],
    channels: ofType(...types),
    continue: false,
    routes: [],
  });
  const webhooks = ofType("webhook");
  return [
    ...(webhooks.length ? [{ matchers: [], channels: webhooks, continue: true, routes: [] }] : []),
    bySeverity("critical", "slack", "pagerduty", "email"),
    bySeverity("high", "slack", "pagerduty"),
    bySeverity("medium", "slack"),
    bySeverity("info", "email"),
  ];
}

const shortcutEnv = z.object({
  COSTLINE_SLACK_WEBHOOK_URL: z.url().optional(),
  COSTLINE_PAGERDUTY_ROUTING_KEY: z.string().min(1).optional(),
  COSTLINE_PAGERDUTY_URL: z.url().optional(),
  COSTLINE_WEBHOOK_URL: z.url().optional(),
  COSTLINE_WEBHOOK_SECRET: z.string().min(1).optional(),
  COSTLINE_SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, "smtp://user:password@host:port or smtps://…")
    .optional(),
  COSTLINE_EMAIL_FROM: z.string().min(3).optional(),
  COSTLINE_EMAIL_TO: z.string().min(3).optional(),
});

/** Channels named by environment variables alone, added when the file does not define a channel of that name. */
function shortcutChannels(env: Record<string, string | undefined>): Record<string, ChannelConfig> {
  const blankless = Object.fromEntries(
    Object.entries(env).filter(([k, v]) => k in shortcutEnv.shape && v !== undefined && v.trim() !== ""),
  );
  const parsed = shortcutEnv.safeParse(blankless);
  if (!parsed.success) throw new ConfigError(`invalid configuration: ${formatIssues(parsed.error, "(env)", Infinity)}`);
  const e = parsed.data;
  const common = { send_resolved: true, on_uncertain: "resend" as const };
  const out: Record<string, ChannelConfig> = {};
  if (e.COSTLINE_SLACK_WEBHOOK_URL) out.slack = { type: "slack", url: e.COSTLINE_SLACK_WEBHOOK_URL, ...common };
  if (e.COSTLINE_PAGERDUTY_ROUTING_KEY)
    out.pagerduty = {
      type: "pagerduty",
      routing_key: e.COSTLINE_PAGERDUTY_ROUTING_KEY,
      url: e.COSTLINE_PAGERDUTY_URL ?? "https://events.pagerduty.com/v2/enqueue",
      ...common,
    };
  if (e.COSTLINE_WEBHOOK_URL)
    out.webhook = { type: "webhook", url: e.COSTLINE_WEBHOOK_URL, secret: e.COSTLINE_WEBHOOK_SECRET, headers: {}, ...common };
  if (e.COSTLINE_SMTP_URL) {
    if (!e.COSTLINE_EMAIL_FROM || !e.COSTLINE_EMAIL_TO)
      throw new ConfigError("invalid configuration: COSTLINE_SMTP_URL needs COSTLINE_EMAIL_FROM and COSTLINE_EMAIL_TO (comma-separated)");
    out.email = {
      type: "email",
      smtp: { url: e.COSTLINE_SMTP_URL, port: 587, secure: false },
      from: e.COSTLINE_EMAIL_FROM,
      to: e.COSTLINE_EMAIL_TO.split(",")
        .map((s) => s.trim())
        .filter(Boolean),
      ...common,
    };
  }
  return out;
}

type Secret = (ref: SecretRef | undefined, field: string) => string | undefined;
type Declared<K extends ChannelType> = Extract<ChannelConfig, { type: K }>;
type Resolved<K extends ChannelType> = Extract<ResolvedChannel, { type: K }>;

/**
 * How each channel type's file entry becomes its resolved settings (secrets
 * read from the environment). A mapped type over ChannelType: a channel type
 * added to the schema does not compile until it has its line here.
 */
const resolvers: { [K in ChannelType]: (c: Declared<K>, base: ChannelBase, secret: Secret) => Resolved<K> } = {
  slack: (c, base, secret) => ({ ...base, type: "slack", url: secret(c.url, "url")! }),
  pagerduty: (c, base, secret) => ({ ...base, type: "pagerduty", url: c.url, routingKey: secret(c.routing_key, "routing_key")! }),
  webhook: (c, base, secret) => ({
    ...base,
    type: "webhook",
    url: secret(c.url, "url")!,
    secret: secret(c.secret, "secret"),
    headers: c.headers,
  }),
  email: (c, base, secret) => ({
    ...base,
    type: "email",
    smtp: {
      url: secret(c.smtp.url, "smtp.url"),
      host: c.smtp.host,
      port: c.smtp.port,
      secure: c.smtp.secure,
      user: secret(c.smtp.user, "smtp.user"),
      password: secret(c.smtp.password, "smtp.password"),
    },
    from: c.from,
    to: c.to,
  }),
};

function resolveChannel<K extends ChannelType>(c: Declared<K>, base: ChannelBase, secret: Secret): ResolvedChannel {
  return (resolvers[c.type as K] as (c: Declared<K>, base: ChannelBase, secret: Secret) => Resolved<K>)(c, base, secret);
}

export function resolveNotifyConfig(section: unknown, env: Record<string, string | undefined>, ackWaitS: number): NotifyConfig {
  const parsed = notifyFileSchema.safeParse(section ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ ...i, path: ["notify", ...i.path] }));
    throw new ConfigError(`invalid config file: ${formatIssues({ issues }, "notify", Infinity)}`);
  }
  const file = parsed.data;
  const problems: string[] = [];
  const secret = (ref: SecretRef | undefined, where: string): string | undefined => {
    if (ref === undefined || typeof ref === "string") return ref;
    const v = env[ref.env];
    if (v === undefined || v.trim() === "") problems.push(`${where}: environment variable ${ref.env} is not set`);
    return v?.trim() ?? "";
  };

  const declared = { ...shortcutChannels(env), ...file.channels };
  const channels: Record<string, ResolvedChannel> = {};
  for (const [name, c] of Object.entries(declared)) {
    const where = `notify.channels.${name}`;
    const base = { name, sendResolved: c.send_resolved, onUncertain: c.on_uncertain };
    channels[name] = resolveChannel(c, base, (ref, field) => secret(ref, `${where}.${field}`));
    const url = (channels[name] as { url?: string }).url;
    if (url && c.type !== "email" && !/^https?:\/\//.test(url)) problems.push(`${where}.url: must be an http(s) URL`);
  }

  const given = file.route;
  const root = { ...rootDefaults, ...(given ?? { matchers: [], continue: false, routes: defaultRoutes(channels) }) };
  for (const k of Object.keys(rootDefaults) as (keyof typeof rootDefaults)[])
    if (root[k] === undefined) (root as Record<string, unknown>)[k] = rootDefaults[k];
  const visit = (r: RouteConfig, where: string) => {
    for (const c of r.channels ?? [])
      if (!channels[c])
        problems.push(`${where}.channels: no channel named "${c}" (channels: ${Object.keys(channels).join(", ") || "none"})`);
    r.routes.forEach((child, i) => visit(child, `${where}.routes.${i}`));
  };
  if (given) visit(root, "notify.route");
  if (problems.length) throw new ConfigError(`invalid config file: ${problems.join("; ")}`);

  return {
    channels,
    route: root as NotifyConfig["route"],
    inhibit: file.inhibit ?? [
      {
        source: [{ name: "severity", op: "=", value: "critical" }],
        target: [{ name: "severity", op: "=~", value: "high|medium|info|low" }],
        equal: ["tenant", "scope", "scope_id"],
      },
    ],
    inhibitMaxAgeMs: file.inhibit_max_age,
    retry: file.retry,
    links: file.links,
    ackWaitS,
  };
}
