// The guard producers embed: answers "may I make this call, with which model?"
// in well under a microsecond from a local copy of the costline-controls KV
// bucket, kept current by a KV watch (which first replays every key's latest
// value). When the connection drops it keeps its last known controls and says
// so (`stale: true`) until it is back.
//
// A tenant's producer credentials (NATS_USER/NATS_PASSWORD, NATS_TOKEN or
// NATS_CREDS, or `auth`) may read only that tenant's controls: give `tenant`.
//
//   import { createGuard } from "costline/guard";
//   const guard = await createGuard({ servers: "nats://127.0.0.1:4222", tenant: "acme" });
//   const d = guard.check({ tenant: "acme", persona: "ai_jesus", model: "gpt-4o", estimatedTokens: 1200 });
//   if (!d.allow) await sleep(d.waitMs); else await callModel(d.model);
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { natsAuthFromEnv, natsAuthOptions, onConnectionChange, type NatsAuth } from "../nats/connect.ts";
import { controlSchema, type Control } from "../../schemas/index.ts";
import { fromKvToken, kvBuckets, kvToken } from "../nats/subjects.ts";
import { controlKvKey } from "../nats/control-key.ts";

export { controlKvKey };
import { createControlCache, type CheckRequest, type Decision } from "./decide.ts";

export interface GuardOptions {
  nc?: NatsConnection;
  servers?: string | string[];
  /** Credentials for a connection of its own (default: NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS). */
  auth?: NatsAuth;
  /** Watch only this tenant's controls (what a tenant's producer credentials allow); default every tenant's. */
  tenant?: string;
  bucket?: string;
  /** Told about controls that could not be read (the guard ignores them). */
  onInvalid?: (key: string, reason: string) => void;
}

export interface Guard {
  check(req: CheckRequest): Decision;
  /** Resolves once the initial replay of the bucket has been applied. */
  ready: Promise<void>;
  stale(): boolean;
  close(): Promise<void>;
}

/** The in-memory key (tenant|dimension.value) for a KV key. */
function cacheKey(kvKey: string): string {
  const [tenant = "", kind = "tenant", value] = kvKey.split(".");
  return kind === "tenant" ? `${fromKvToken(tenant)}|tenant` : `${fromKvToken(tenant)}|${kind}.${fromKvToken(value ?? "")}`;
}

export async function putControl(kv: KV, control: Control): Promise<void> {
  await kv.put(controlKvKey(control.scope), JSON.stringify(controlSchema.parse(control)));
}

/** Whether no key matches: read through the history, whose consumer needs no info request a producer may not make. */
async function noKeys(kv: KV, filter: string): Promise<boolean> {
  for await (const _ of await kv.history({ key: filter })) return false;
  return true;
}

export async function createGuard(opts: GuardOptions): Promise<Guard> {
  const own = !opts.nc;
  const nc =
    opts.nc ??
    (await connect({
      ...natsAuthOptions(opts.auth ?? natsAuthFromEnv()),
      servers: opts.servers ?? "nats://127.0.0.1:4222",
      name: "costline-guard",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    }));
  const cache = createControlCache();
  const kv = await new Kvm(nc).open(opts.bucket ?? kvBuckets.controls);
  const filter = opts.tenant === undefined ? undefined : `${kvToken(opts.tenant)}.>`;
  const watch = await kv.watch(filter === undefined ? {} : { key: filter });
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  // An empty bucket (or tenant) replays nothing; otherwise the replay ends at the entry with no more pending.
  if (filter === undefined ? (await kv.status()).values === 0 : await noKeys(kv, filter)) markReady();

  void (async () => {
    for await (const e of watch) {
      if (e.operation === "PUT") {
        const parsed = controlSchema.safeParse(e.json());
        if (parsed.success) cache.put(parsed.data);
        else opts.onInvalid?.(e.key, parsed.error.message);
      } else cache.remove(cacheKey(e.key));
      if (e.delta === 0) markReady();
    }
  })();
  onConnectionChange(nc, (downSince) => cache.setStale(downSince !== undefined));

  return {
    check: (req) => cache.check(req),
    ready,
    stale: () => cache.isStale(),
    async close() {
      watch.stop();
      if (own) await nc.close();
    },
  };
}

// The rest of the guard's public surface: hard-budget reservations and the wrapped call.
export { createBudgetReservations, type BudgetReservations, type Reservation, type ReservationOptions } from "./budget-reservations.ts";
export {
  BudgetExhaustedError,
  CircuitOpenError,
  GuardDeniedError,
  createBreakers,
  guardedCall,
  guardedCallResult,
} from "./guarded-call.ts";
