// `costline keys create --tenant T --nats`, `keys list --nats`, `keys revoke
// USER --nats`: NATS users of producers, each allowed to publish only to its
// tenant's events subject and to read that tenant's controls and budgets.
//
// On the embedded server the user is added to $COSTLINE_HOME/nats-auth, the
// server's configuration rewritten and reloaded (SIGHUP: connections stay up),
// and the command returns once the new user is admitted. With NATS_URL (a
// server costline does not run) it prints the user entry, password as a bcrypt
// hash, for that server's configuration instead.
import { connect } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { natsAuthOptions } from "../nats/connect.ts";
import { addProducer, hashPassword, newPassword, readNatsCredentials, removeProducer, userEntry } from "../nats/credentials.ts";
import { reloadEmbeddedNats } from "../nats/embedded-server.ts";
import { inboxOf, producerPermissions } from "../nats/roles.ts";
import { subjectToken } from "../nats/subjects.ts";
import { findLiveStack } from "../stack/stack-file.ts";
import { printJson } from "./stack-client.ts";
import { randomBytes } from "node:crypto";

export type NatsKeyAction = { kind: "create"; tenant: string } | { kind: "list" } | { kind: "revoke"; user: string };

export async function runNatsKeys(config: Config, action: NatsKeyAction): Promise<void> {
  if (config.nats.url) return printForExternalServer(config, action);
  if (action.kind === "list") {
    const file = readNatsCredentials(config.home);
    return printJson({
      users: Object.entries(file?.producers ?? {}).map(([user, p]) => ({ user, tenant: p.tenant, created_at: p.created_at })),
    });
  }
  if (action.kind === "revoke") {
    if (!(await removeProducer(config.home, config.subjects.prefix, action.user)))
      throw new CostlineError(`no NATS producer user ${action.user}`);
    const reloaded = reloadRunning(config);
    return printJson({ revoked: action.user, reloaded });
  }
  const { user, password } = await addProducer(config.home, config.subjects.prefix, action.tenant);
  const live = findLiveStack(config.stackFile);
  const reloaded = reloadRunning(config);
  if (reloaded && live) await waitUntilAdmitted(live.nats_url, user, password);
  printJson({
    tenant: action.tenant,
    nats_user: user,
    nats_password: password,
    nats_url: live?.nats_url,
    subject: `${config.subjects.prefix}.events.${subjectToken(action.tenant)}`,
    // Printed once: only a bcrypt hash of the password is kept.
    env: `NATS_USER=${user} NATS_PASSWORD=${password}`,
  });
}

/** Reloads the embedded server of the running stack, if there is one; the next start reads the file anyway. */
function reloadRunning(config: Config): boolean {
  const pid = findLiveStack(config.stackFile)?.nats_pid;
  return pid ? reloadEmbeddedNats(pid) : false;
}

/** A reload takes effect asynchronously: the command answers once the server admits the user. */
async function waitUntilAdmitted(url: string, user: string, password: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const nc = await connect({ servers: url, ...natsAuthOptions({ user, password }), reconnect: false, name: "costline-keys-check" });
      await nc.close();
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new CostlineError(`the NATS server at ${url} did not admit the new user after its reload: ${(err as Error).message}`);
      await sleep(100);
    }
  }
}

function printForExternalServer(config: Config, action: NatsKeyAction): void {
  if (action.kind !== "create")
    throw new CostlineError(
      "NATS_URL names a server costline does not run: list or remove its users in that server's configuration (docs/nats-security.md)",
    );
  const user = `producer-${subjectToken(action.tenant)}-${randomBytes(4).toString("hex")}`;
  const password = newPassword();
  printJson({
    tenant: action.tenant,
    nats_user: user,
    nats_password: password,
    inbox_prefix: inboxOf(user),
    // Add to the users of costline's account in the server's configuration, then reload it (nats-server --signal reload).
    server_config_user: userEntry(user, hashPassword(password), producerPermissions(config.subjects.prefix, action.tenant, user)),
  });
}
