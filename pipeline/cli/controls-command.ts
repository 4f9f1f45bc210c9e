// `costline budgets …` and `costline controls …`: manage budgets and controls
// through the running stack's API (with the admin key).
//
//   npx costline budgets set --tenant acme --period monthly --timezone Europe/Berlin --amount 500 --hard
//   npx costline budgets set --tenant acme --persona ai_jesus --period rolling_30d --amount 50
//   npx costline controls set --tenant acme --persona ai_jesus --state open --until "$(date -u -d '+2 hours' +%FT%TZ)" --reason "incident 42" --expires "$(date -u -d '+2 hours' +%FT%TZ)"
//   npx costline controls clear --tenant acme --persona ai_jesus --reason "resolved"
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { printJson, stackApi } from "./stack-client.ts";
import { budgetKvKey } from "../budgets/budget-key.ts";
import type { BudgetRecord } from "../../schemas/index.ts";

const call = stackApi;
const print = printJson;

export interface ScopeOptions {
  tenant: string;
  persona?: string;
  feature?: string;
  user?: string;
  model?: string;
}

function scopeOf(o: ScopeOptions) {
  const narrow = [o.persona, o.feature, o.user, o.model].filter(Boolean).length;
  if (narrow > 1) throw new CostlineError("give at most one of --persona, --feature, --user, --model");
  return { tenant: o.tenant, persona_id: o.persona, feature: o.feature, user_id: o.user, model: o.model };
}

export const budgetsCommand = {
  list: async (config: Config) => print(await call(config, "GET", "/v1/budgets")),
  set: async (
    config: Config,
    o: ScopeOptions & { period: string; amount: string; timezone?: string; hard?: boolean; thresholds?: string },
  ) =>
    print(
      await call(config, "PUT", "/v1/budgets", {
        scope: scopeOf(o),
        period: o.period,
        amount_usd: o.amount,
        hard: Boolean(o.hard),
        ...(o.timezone ? { timezone: o.timezone } : {}),
        ...(o.thresholds ? { thresholds: o.thresholds.split(",").map(Number) } : {}),
      }),
    ),
  delete: async (config: Config, o: ScopeOptions & { period: string }) =>
    print(
      await call(
        config,
        "DELETE",
        `/v1/budgets/${encodeURIComponent(budgetKvKey({ scope: scopeOf(o), period: o.period as BudgetRecord["period"] }))}`,
      ),
    ),
  history: async (config: Config, o: { tenant?: string; limit?: string }) => {
    const q = new URLSearchParams({ ...(o.tenant ? { tenant: o.tenant } : {}), ...(o.limit ? { limit: o.limit } : {}) });
    print(await call(config, "GET", `/v1/budgets/history?${q}`));
  },
  /** Spent, reserved, remaining, projected end of period and thresholds crossed, per budget. */
  status: async (config: Config, o: { tenant?: string }) =>
    print(await call(config, "GET", `/v1/budgets/status${o.tenant ? `?${new URLSearchParams({ tenant: o.tenant })}` : ""}`)),
};

export const controlsCommand = {
  list: async (config: Config) => print(await call(config, "GET", "/v1/controls")),
  set: async (
    config: Config,
    o: ScopeOptions & { state: string; reason: string; rpm?: string; tpm?: string; map?: string[]; until?: string; expires?: string },
  ) => {
    const map = o.map?.length ? Object.fromEntries(o.map.map((m) => m.split("=", 2) as [string, string])) : undefined;
    print(
      await call(config, "PUT", "/v1/controls", {
        scope: scopeOf(o),
        state: o.state,
        reason: o.reason,
        ...(o.rpm || o.tpm
          ? { throttle: { requests_per_minute: o.rpm ? Number(o.rpm) : undefined, tokens_per_minute: o.tpm ? Number(o.tpm) : undefined } }
          : {}),
        ...(map ? { model_map: map } : {}),
        ...(o.until ? { paused_until: o.until } : {}),
        ...(o.expires ? { expires_at: o.expires } : {}),
      }),
    );
  },
  clear: async (config: Config, o: ScopeOptions & { reason: string }) =>
    print(await call(config, "DELETE", "/v1/controls", { scope: scopeOf(o), reason: o.reason })),
};
