// Builds the channel clients of the configuration, one per named channel.
import type { Channel } from "./channel.ts";
import { createEmailChannel } from "./channel-email.ts";
import { createPagerdutyChannel } from "./channel-pagerduty.ts";
import { createSlackChannel } from "./channel-slack.ts";
import { createWebhookChannel } from "./channel-webhook.ts";
import type { NotifyConfig } from "../config/notify-config.ts";

export function createChannels(config: NotifyConfig): Map<string, Channel> {
  const opts = { timeoutMs: config.retry.timeout, links: config.links };
  const out = new Map<string, Channel>();
  for (const c of Object.values(config.channels)) {
    switch (c.type) {
      case "slack":
        out.set(c.name, createSlackChannel(c, opts));
        break;
      case "pagerduty":
        out.set(c.name, createPagerdutyChannel(c, opts));
        break;
      case "webhook":
        out.set(c.name, createWebhookChannel(c, opts));
        break;
      case "email":
        out.set(c.name, createEmailChannel(c, opts));
        break;
    }
  }
  return out;
}
