// Routing configuration: matchers, the route tree (first match, continue,
// inheritance), the default severity routing, secrets from the environment
// and clear errors for a bad notify section.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../pipeline/config/config.ts";
import { ConfigError } from "../../pipeline/errors.ts";
import { alertLabels, matches } from "../../pipeline/notify/labels.ts";
import { resolveNotifyConfig } from "../../pipeline/config/notify-config.ts";
import { groupOf, routeAlert } from "../../pipeline/notify/route-tree.ts";
import { parseMatcherText, silenceInputSchema } from "../../schemas/index.ts";
import { makeAlert } from "../integration/notifier-receivers.ts";

const channels = {
  slack: { type: "slack", url: "https://hooks.slack.example/T1" },
  pd: { type: "pagerduty", routing_key: "rk" },
  mail: { type: "email", smtp: { host: "smtp.example.com" }, from: "a@example.com", to: ["b@example.com"] },
};
const channelsOf = (cfg: ReturnType<typeof resolveNotifyConfig>, a: Parameters<typeof makeAlert>[0]) =>
  routeAlert(cfg.route, alertLabels(makeAlert(a)))
    .map((t) => t.channel)
    .sort();

describe("matchers", () => {
  it("parses the four operators, with or without quotes", () => {
    expect(parseMatcherText("tenant=acme")).toEqual({ name: "tenant", op: "=", value: "acme" });
    expect(parseMatcherText("severity != info")).toEqual({ name: "severity", op: "!=", value: "info" });
    expect(parseMatcherText('type=~"spike|creep"')).toEqual({ name: "type", op: "=~", value: "spike|creep" });
    expect(parseMatcherText("persona_id!~p-.*")).toEqual({ name: "persona_id", op: "!~", value: "p-.*" });
    expect(parseMatcherText("no operator")).toBeUndefined();
  });

  it("anchors regular expressions and reads a missing label as empty", () => {
    const labels = alertLabels(makeAlert({ tenant: "acme-eu", persona: "ai_jesus" }));
    expect(matches({ name: "tenant", op: "=~", value: "acme" }, labels)).toBe(false);
    expect(matches({ name: "tenant", op: "=~", value: "acme.*" }, labels)).toBe(true);
    expect(matches({ name: "persona_id", op: "=", value: "ai_jesus" }, labels)).toBe(true);
    expect(matches({ name: "model", op: "!=", value: "gpt-4o" }, labels)).toBe(true);
    expect(labels.scope_id).toBe("persona_id=ai_jesus,tenant=acme-eu");
  });

  it("refuses a bad regular expression in a silence", () => {
    const r = silenceInputSchema.safeParse({ matchers: ["tenant=~(acme"], duration: "1h", comment: "x" });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain("invalid regular expression");
  });
});

describe("route tree", () => {
  it("applies the default severity routing over the configured channels", () => {
    const cfg = resolveNotifyConfig({ channels }, {}, 10);
    expect(channelsOf(cfg, { tenant: "t", severity: "critical" })).toEqual(["mail", "pd", "slack"]);
    expect(channelsOf(cfg, { tenant: "t", severity: "high" })).toEqual(["pd", "slack"]);
    expect(channelsOf(cfg, { tenant: "t", severity: "medium" })).toEqual(["slack"]);
    expect(channelsOf(cfg, { tenant: "t", severity: "info" })).toEqual(["mail"]);
    expect(cfg.route).toMatchObject({ group_by: ["tenant", "type"], group_wait: 500, group_interval: 30_000, repeat_interval: 14_400_000 });
  });

  it("takes the first matching child, goes on after `continue`, and inherits timing", () => {
    const cfg = resolveNotifyConfig(
      {
        channels,
        route: {
          channels: ["mail"],
          group_wait: "2s",
          routes: [
            { matchers: ["tenant=initech"], channels: ["pd"], continue: true, group_by: ["tenant"] },
            {
              matchers: ["severity=~critical|high"],
              channels: ["slack"],
              routes: [{ matchers: ["type=budget"], channels: ["pd"], group_wait: "0s" }],
            },
            { matchers: ["severity=critical"], channels: ["pd"] },
          ],
        },
      },
      {},
      10,
    );
    expect(channelsOf(cfg, { tenant: "initech", severity: "critical" })).toEqual(["pd", "slack"]);
    expect(channelsOf(cfg, { tenant: "acme", severity: "critical" })).toEqual(["slack"]);
    expect(channelsOf(cfg, { tenant: "acme", severity: "high", type: "budget" })).toEqual(["pd"]);
    expect(channelsOf(cfg, { tenant: "acme", severity: "medium" })).toEqual(["mail"]);
    const [budget] = routeAlert(cfg.route, alertLabels(makeAlert({ tenant: "acme", severity: "high", type: "budget" })));
    expect(budget).toMatchObject({ routeId: "1.0", groupWaitMs: 0, groupBy: ["tenant", "type"] });
    const [initech] = routeAlert(cfg.route, alertLabels(makeAlert({ tenant: "initech", severity: "info" })));
    expect(initech).toMatchObject({ channel: "pd", groupWaitMs: 2000, groupBy: ["tenant"] });
    expect(groupOf(initech!, alertLabels(makeAlert({ tenant: "initech" }))).labels).toEqual({ tenant: "initech" });
  });
});

describe("notify configuration", () => {
  it("reads secrets from the environment and channels from the shortcuts", () => {
    const cfg = resolveNotifyConfig(
      { channels: { ops: { type: "webhook", url: { env: "OPS_HOOK" }, secret: { env: "OPS_SECRET" } } } },
      {
        OPS_HOOK: "https://hooks.example.com/x",
        OPS_SECRET: "k",
        COSTLINE_PAGERDUTY_ROUTING_KEY: "rk-1",
        COSTLINE_SLACK_WEBHOOK_URL: "https://hooks.slack.example/T",
      },
      10,
    );
    expect(cfg.channels.ops).toMatchObject({ type: "webhook", url: "https://hooks.example.com/x", secret: "k" });
    expect(cfg.channels.pagerduty).toMatchObject({ type: "pagerduty", routingKey: "rk-1", url: "https://events.pagerduty.com/v2/enqueue" });
    expect(cfg.channels.slack).toMatchObject({ type: "slack" });
    // The webhook gets everything by default, besides the severity routes.
    expect(channelsOf(cfg, { tenant: "t", severity: "high" })).toEqual(["ops", "pagerduty", "slack"]);
  });

  it("names a missing secret, an unknown channel and a bad duration", () => {
    const err = (section: unknown, env = {}) => {
      try {
        resolveNotifyConfig(section, env, 10);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error("no error");
    };
    expect(err({ channels: { s: { type: "slack", url: { env: "NOPE" } } } })).toContain(
      "notify.channels.s.url: environment variable NOPE is not set",
    );
    expect(err({ channels, route: { routes: [{ matchers: ["severity=high"], channels: ["teams"] }] } })).toContain(
      'notify.route.routes.0.channels: no channel named "teams"',
    );
    expect(err({ route: { group_wait: "soon" } })).toContain("notify.route.group_wait");
    expect(err({ channels: { x: { type: "carrier-pigeon" } } })).toContain("notify.channels.x.type");
    expect(err({}, { COSTLINE_SMTP_URL: "smtp://h:25" })).toContain("COSTLINE_EMAIL_FROM");
  });

  it("is part of loadConfig, with no channels by default", () => {
    const cfg = loadConfig({ COSTLINE_HOME: "/nonexistent-home" });
    expect(cfg.notify.channels).toEqual({});
    expect(cfg.notify.ackWaitS).toBe(10);
  });
});
