// The variant tables: every channel type of the schema has its row (how it is
// resolved, built and redacted), and a table missing a row does not compile
// (`npm run lint` typechecks the tests too, so the @ts-expect-error lines fail
// the moment a missing row stops being an error).
import { describe, expect, it } from "vitest";
import { channelSchema } from "../../schemas/index.ts";
import type { ChannelType } from "../../pipeline/config/notify-config.ts";
import { channelKinds, channelSecrets, createChannels, type ChannelKind } from "../../pipeline/notify/channels.ts";
import { resolveNotifyConfig } from "../../pipeline/config/notify-config.ts";

const schemaTypes = channelSchema.options.map((o) => o.shape.type.value).sort();

describe("the channel table", () => {
  it("has one row per channel type the schema accepts", () => {
    expect(Object.keys(channelKinds).sort()).toEqual(schemaTypes);
  });

  it("builds a client and names the secrets of every type", () => {
    const config = resolveNotifyConfig(
      {
        channels: {
          s: { type: "slack", url: "https://hooks.example/T000/B000/slack-secret-123" },
          p: { type: "pagerduty", routing_key: "pd-routing-key-123" },
          w: { type: "webhook", url: "https://hooks.example/w", secret: "webhook-secret-123", headers: { "x-token": "header-token-123" } },
          e: { type: "email", smtp: { url: "smtp://u:smtp-password-123@mail.example:587" }, from: "a@example.com", to: ["b@example.com"] },
        },
      },
      {},
      10,
    );
    const clients = createChannels(config);
    expect([...clients.values()].map((c) => c.type).sort()).toEqual(schemaTypes);
    const secrets = Object.values(config.channels).flatMap(channelSecrets);
    for (const s of ["pd-routing-key-123", "webhook-secret-123", "header-token-123", "smtp-password-123"]) expect(secrets).toContain(s);
  });

  it("does not compile without a row for each type", () => {
    // @ts-expect-error the email row is missing
    const incomplete: { [K in ChannelType]: ChannelKind<K> } = {
      slack: channelKinds.slack,
      pagerduty: channelKinds.pagerduty,
      webhook: channelKinds.webhook,
    };
    expect(Object.keys(incomplete)).toHaveLength(3);
  });
});
