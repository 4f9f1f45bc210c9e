// The guard's decision, from the controls it holds in memory: the most
// restrictive control among the request's scopes wins (open > degraded >
// throttled > closed). No I/O and no allocation on the common path (no
// control for the tenant), so a check costs well under a microsecond.
import type { Control } from "../../schemas/index.ts";
import { createRateLimiter, type RateLimiter } from "./rate-limiter.ts";

export interface CheckRequest {
  tenant: string;
  persona?: string;
  feature?: string;
  user?: string;
  model: string;
  estimatedTokens?: number;
}

export interface Decision {
  allow: boolean;
  /** The model to call: the requested one, or its cheaper stand-in when degraded. */
  model: string;
  waitMs: number;
  reason: string;
  state: Control["state"];
  /** True when the guard has lost its connection and answers from its last known controls. */
  stale: boolean;
}

interface TenantControls {
  tenant?: Control;
  persona: Map<string, Control>;
  feature: Map<string, Control>;
  user: Map<string, Control>;
  model: Map<string, Control>;
}

const rank = { closed: 0, throttled: 1, degraded: 2, open: 3 } as const;

export function controlKey(c: Control): string {
  const s = c.scope;
  const dim = s.persona_id
    ? `persona.${s.persona_id}`
    : s.feature
      ? `feature.${s.feature}`
      : s.user_id
        ? `user.${s.user_id}`
        : s.model
          ? `model.${s.model}`
          : "tenant";
  return `${s.tenant}|${dim}`;
}

export function createControlCache() {
  const byTenant = new Map<string, TenantControls>();
  const limiters = new Map<string, { limiter: RateLimiter; signature: string }>();
  let stale = false;

  function slot(tenant: string): TenantControls {
    let t = byTenant.get(tenant);
    if (!t) byTenant.set(tenant, (t = { persona: new Map(), feature: new Map(), user: new Map(), model: new Map() }));
    return t;
  }

  function limiterFor(key: string, c: Control): RateLimiter {
    const signature = JSON.stringify(c.throttle ?? {});
    let l = limiters.get(key);
    if (!l || l.signature !== signature)
      limiters.set(
        key,
        (l = {
          limiter: createRateLimiter({
            requestsPerMinute: c.throttle?.requests_per_minute,
            tokensPerMinute: c.throttle?.tokens_per_minute,
          }),
          signature,
        }),
      );
    return l.limiter;
  }

  const lastProbe = new Map<string, number>();

  return {
    setStale(v: boolean) {
      stale = v;
    },
    isStale: () => stale,
    put(c: Control) {
      const t = slot(c.scope.tenant);
      const s = c.scope;
      if (s.persona_id) t.persona.set(s.persona_id, c);
      else if (s.feature) t.feature.set(s.feature, c);
      else if (s.user_id) t.user.set(s.user_id, c);
      else if (s.model) t.model.set(s.model, c);
      else t.tenant = c;
    },
    remove(key: string) {
      const [tenant, dim = "tenant"] = key.split("|");
      const t = byTenant.get(tenant!);
      if (!t) return;
      if (dim === "tenant") t.tenant = undefined;
      else {
        const [kind, ...rest] = dim.split(".");
        (t[kind as "persona" | "feature" | "user" | "model"] as Map<string, Control> | undefined)?.delete(rest.join("."));
      }
    },

    check(req: CheckRequest, now = Date.now()): Decision {
      const t = byTenant.get(req.tenant);
      if (!t) return { allow: true, model: req.model, waitMs: 0, reason: "no control", state: "closed", stale };
      let worst: Control | undefined;
      let worstKey = "";
      const consider = (c: Control | undefined, key: string) => {
        if (!c || (c.expires_at && Date.parse(c.expires_at) <= now)) return;
        if (!worst || rank[c.state] > rank[worst.state]) {
          worst = c;
          worstKey = key;
        }
      };
      consider(t.tenant, `${req.tenant}|tenant`);
      if (req.persona) consider(t.persona.get(req.persona), `${req.tenant}|persona.${req.persona}`);
      if (req.feature) consider(t.feature.get(req.feature), `${req.tenant}|feature.${req.feature}`);
      if (req.user) consider(t.user.get(req.user), `${req.tenant}|user.${req.user}`);
      consider(t.model.get(req.model), `${req.tenant}|model.${req.model}`);
      const c = worst as Control | undefined;
      if (!c || c.state === "closed") return { allow: true, model: req.model, waitMs: 0, reason: "no control", state: "closed", stale };
      if (c.state === "open") {
        const until = c.paused_until ? Date.parse(c.paused_until) : Infinity;
        if (now < until)
          return {
            allow: false,
            model: req.model,
            waitMs: until === Infinity ? 60_000 : until - now,
            reason: c.reason,
            state: "open",
            stale,
          };
        // Half-open: one probe per interval finds out whether things are back to normal.
        const last = lastProbe.get(worstKey) ?? 0;
        if (now - last >= c.probe_every_s * 1000) {
          lastProbe.set(worstKey, now);
          return { allow: true, model: req.model, waitMs: 0, reason: `probe: ${c.reason}`, state: "open", stale };
        }
        return { allow: false, model: req.model, waitMs: c.probe_every_s * 1000 - (now - last), reason: c.reason, state: "open", stale };
      }
      if (c.state === "degraded")
        return { allow: true, model: c.model_map?.[req.model] ?? req.model, waitMs: 0, reason: c.reason, state: "degraded", stale };
      const taken = limiterFor(worstKey, c).take(worstKey, req.estimatedTokens ?? 0, now);
      return taken.allowed
        ? { allow: true, model: req.model, waitMs: 0, reason: c.reason, state: "throttled", stale }
        : { allow: false, model: req.model, waitMs: taken.waitMs, reason: `${c.reason} (${taken.limit})`, state: "throttled", stale };
    },
  };
}
export type ControlCache = ReturnType<typeof createControlCache>;
