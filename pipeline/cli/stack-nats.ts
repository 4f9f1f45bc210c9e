// Where and as whom a CLI command reaches NATS (publishing, the DLQ tools).
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { asNatsUser } from "../nats/nats-user.ts";
import { roleCredentials } from "../nats/credentials.ts";
import { findLiveStack } from "../stack/stack-file.ts";

/** Whether NATS credentials were configured (NATS_USER, NATS_TOKEN, NATS_CREDS, an nkey, or in NATS_URL). */
function hasNatsCredentials(config: Config): boolean {
  const n = config.nats;
  return Boolean(n.user || n.token || n.credsFile || n.nkeySeed || n.nkeySeedFile || (n.url && /:\/\/[^/]*@/.test(n.url)));
}

/**
 * Where and as whom a command reaches NATS: NATS_URL and the configured
 * credentials when given; else the running stack of $COSTLINE_HOME, as the
 * all-tenants producer stack.json names (`publisher`, for publishing) or as the
 * operator whose password $COSTLINE_HOME/nats-auth keeps (`operator`, for the
 * DLQ tools) — readable, like admin.key, by the stack's owner only.
 */
export function stackNats(config: Config, role: "publisher" | "operator"): Config["nats"] & { url: string } {
  const live = config.nats.url ? undefined : findLiveStack(config.stackFile);
  const url = config.nats.url ?? live?.nats_url;
  if (!url) throw new CostlineError(`no NATS_URL and no running stack in ${config.home}; start one with: npx costline up`);
  if (!live || hasNatsCredentials(config)) return { ...config.nats, url };
  if (role === "publisher" && live.nats_user && live.nats_password)
    return { ...asNatsUser(config.nats, live.nats_user, live.nats_password), url };
  const own = roleCredentials(config.home, role);
  return own ? { ...asNatsUser(config.nats, own.user, own.password), url } : { ...config.nats, url };
}
