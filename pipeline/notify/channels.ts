// The channel types' table: how each builds its client and which of its
// settings are secrets (redacted from every log line and delivery row). A
// mapped type over ChannelType: a channel type added to the schema does not
// compile until it has its row here, so no channel's alerts drop silently.
import type { Channel } from "./channel.ts";
import { createEmailChannel } from "./channel-email.ts";
import { createPagerdutyChannel } from "./channel-pagerduty.ts";
import { urlSecrets } from "./channel-secrets.ts";
import { createSlackChannel } from "./channel-slack.ts";
import { createWebhookChannel } from "./channel-webhook.ts";
import type { ChannelType, NotifyConfig, ResolvedChannel } from "../config/notify-config.ts";

export interface ChannelOptions {
  timeoutMs: number;
  links: NotifyConfig["links"];
}

export interface ChannelKind<K extends ChannelType> {
  create(c: Extract<ResolvedChannel, { type: K }>, opts: ChannelOptions): Channel;
  /** The values to redact: URLs' credentials and tokens, keys, passwords. */
  secrets(c: Extract<ResolvedChannel, { type: K }>): string[];
}

export const channelKinds: { [K in ChannelType]: ChannelKind<K> } = {
  slack: { create: createSlackChannel, secrets: (c) => urlSecrets(c.url) },
  pagerduty: { create: createPagerdutyChannel, secrets: (c) => [...urlSecrets(c.url), c.routingKey] },
  webhook: { create: createWebhookChannel, secrets: (c) => [...urlSecrets(c.url), c.secret ?? "", ...Object.values(c.headers)] },
  email: { create: createEmailChannel, secrets: (c) => [...(c.smtp.url ? urlSecrets(c.smtp.url) : []), c.smtp.password ?? ""] },
};

/** The kind of one resolved channel (the one cast: a union's member and its table row). */
const kindOf = <K extends ChannelType>(c: Extract<ResolvedChannel, { type: K }>) => channelKinds[c.type as K] as unknown as ChannelKind<K>;

export function channelSecrets(c: ResolvedChannel): string[] {
  return kindOf(c).secrets(c);
}

/** The channel clients of the configuration, one per named channel. */
export function createChannels(config: NotifyConfig): Map<string, Channel> {
  const opts = { timeoutMs: config.retry.timeout, links: config.links };
  return new Map(Object.values(config.channels).map((c) => [c.name, kindOf(c).create(c, opts)]));
}
