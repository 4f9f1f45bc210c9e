// NATS connections to a running `costline up` as one of its roles: the
// operator (the CLI's and the API's writes: controls, budgets, silences, DLQ
// tools, republishing to any costline subject), the pipeline (the stages), or
// the all-tenants producer stack.json names. The embedded server refuses
// anonymous clients, so every test connects as someone.
import { connect, type NodeConnectionOptions } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { natsAuthOptions } from "../../pipeline/nats/connect.ts";
import { roleCredentials } from "../../pipeline/nats/credentials.ts";
import type { StackInfo } from "../../pipeline/stack/stack-file.ts";

export type StackRole = "operator" | "pipeline" | "publisher";

/** The user and password of `role` in the stack of `home` (stack.json for the publisher). */
export function stackCredentials(stack: { home: string; info: StackInfo }, role: StackRole): { user: string; password: string } {
  if (role === "publisher") {
    const { nats_user: user, nats_password: password } = stack.info;
    if (!user || !password) throw new Error(`stack.json in ${stack.home} names no NATS producer (is its NATS external?)`);
    return { user, password };
  }
  const creds = roleCredentials(stack.home, role);
  if (!creds) throw new Error(`no NATS credentials under ${stack.home}/nats-auth`);
  return creds;
}

/** NATS_USER / NATS_PASSWORD for a costline command run against the stack as `role`. */
export function stackNatsEnv(stack: { home: string; info: StackInfo }, role: StackRole): Record<string, string> {
  const { user, password } = stackCredentials(stack, role);
  return { NATS_URL: stack.info.nats_url, NATS_USER: user, NATS_PASSWORD: password };
}

export function connectStack(
  stack: { home: string; info: StackInfo },
  role: StackRole = "operator",
  opts: Omit<NodeConnectionOptions, "servers" | "user" | "pass"> = {},
): Promise<NatsConnection> {
  return connect({ servers: stack.info.nats_url, ...natsAuthOptions(stackCredentials(stack, role)), ...opts });
}
