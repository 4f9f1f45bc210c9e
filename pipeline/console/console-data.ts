// What the console's pages read, built on the API's own stores and queries
// (budgets, controls, silences, totals, costs, posts, alerts); the SQL here
// is only what no route had: the overview's per-tenant spend, the tenant
// picker, the control history and the ledger's freshness.
import type { ClickHouseClient } from "@clickhouse/client";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { queryRows } from "../clickhouse/client.ts";
import { chTime } from "../ledger/ledger-row.ts";
import { periodOf } from "../budgets/budget-period.ts";
import { readSpendBuckets } from "../budgets/budget-spend.ts";
import type { BudgetStore } from "../budgets/budget-store.ts";
import type { BudgetRecord } from "../../schemas/index.ts";
import { Decimal, sumMoney } from "../pricing/decimal.ts";
import { sqlFile } from "../queries/sql-files.ts";
import type { Totals } from "../queries/totals.ts";
import { readDlq, dlqStats, type DlqStats } from "../dlq/dlq-records.ts";
import { streamNames } from "../nats/subjects.ts";

export interface TenantSpend {
  tenant: string;
  today_usd: string;
  mtd_usd: string;
  projected_usd: string;
  events_today: number;
  unpriced_today: number;
  events_mtd: number;
  unpriced_mtd: number;
}

const utcDay = (t: Date) => new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
const utcMonth = (t: Date) => new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1));
const nextUtcMonth = (t: Date) => new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 1));

/**
 * Month-end projection at the month's rate so far: spend × month length ÷
 * time elapsed. Plain and explainable; a young month (under a day) projects
 * from the hours it has.
 */
export function projectMonthEnd(mtd: string, now: Date): string {
  const start = utcMonth(now).getTime();
  const elapsed = Math.max(now.getTime() - start, 3_600_000);
  const length = nextUtcMonth(now).getTime() - start;
  return new Decimal(mtd).times(length).dividedBy(elapsed).toDecimalPlaces(6).toFixed();
}

export async function tenantSpend(client: ClickHouseClient, tenant: string | undefined, now = new Date()): Promise<TenantSpend[]> {
  const rows = await queryRows<Record<string, string>>(client, sqlFile("console_tenant_spend"), {
    tenant: tenant ?? "",
    day_start: chTime(utcDay(now).toISOString()).slice(0, 19),
    month_start: chTime(utcMonth(now).toISOString()).slice(0, 19),
  });
  return rows.map((r) => ({
    tenant: r.tenant!,
    today_usd: r.today_usd!,
    mtd_usd: r.mtd_usd!,
    projected_usd: projectMonthEnd(r.mtd_usd!, now),
    events_today: Number(r.events_today),
    unpriced_today: Number(r.unpriced_today),
    events_mtd: Number(r.events_mtd),
    unpriced_mtd: Number(r.unpriced_mtd),
  }));
}

/** The all-time totals `costline totals` prints, from the hourly rollup (console_totals.sql says why that is exact). */
export async function consoleTotals(client: ClickHouseClient, tenant: string | undefined): Promise<Totals> {
  const [r] = await queryRows<{ events: string | number; cost_usd: string; unpriced_events: string | number }>(
    client,
    sqlFile("console_totals"),
    {
      tenant: tenant ?? "",
    },
  );
  return { events: Number(r?.events ?? 0), cost_usd: r?.cost_usd ?? "0", unpriced_events: Number(r?.unpriced_events ?? 0) };
}

export async function tenantNames(client: ClickHouseClient): Promise<string[]> {
  return (await queryRows<{ tenant: string }>(client, sqlFile("console_tenants"))).map((r) => r.tenant);
}

export interface BudgetState {
  key: string;
  budget: BudgetRecord;
  spend_usd: string;
  used: number;
  period_start: string;
  period_end: string;
  /** Spend at the period's end at the rate so far. */
  forecast_usd: string;
  /** Cumulative spend per 15-minute bucket (for the burn-down). */
  burn: { t: number; spend: number }[];
}

/** The budgets a scope sees, with the spend of their current period, as GET /v1/budgets reports it. */
export async function budgetStates(
  store: BudgetStore,
  client: ClickHouseClient,
  tenant: string | undefined,
  now = new Date(),
): Promise<BudgetState[]> {
  const all = (await store.list()).filter((b) => tenant === undefined || b.budget.scope.tenant === tenant);
  return Promise.all(
    all.map(async ({ key, budget }) => {
      const period = periodOf(budget.period, budget.timezone, now);
      const buckets = await readSpendBuckets(client, budget.scope, period.start, now);
      const spend = sumMoney(buckets.map((b) => b.spend));
      let running = new Decimal(0);
      const burn = buckets.map((b) => ({ t: b.bucket.getTime() / 1000, spend: (running = running.plus(b.spend)).toNumber() }));
      const elapsed = Math.max(now.getTime() - period.start.getTime(), 60_000);
      const forecast = new Decimal(spend)
        .times(period.end.getTime() - period.start.getTime())
        .dividedBy(elapsed)
        .toDecimalPlaces(6)
        .toFixed();
      return {
        key,
        budget,
        spend_usd: spend,
        used: new Decimal(spend).div(budget.amount_usd).toDecimalPlaces(4).toNumber(),
        period_start: period.start.toISOString(),
        period_end: period.end.toISOString(),
        forecast_usd: forecast,
        burn,
      };
    }),
  );
}

export interface ControlChange {
  changed_at: string;
  tenant: string;
  scope_key: string;
  action: string;
  state: string;
  reason: string;
  changed_by: string;
}

export async function controlHistory(client: ClickHouseClient, tenant: string | undefined, limit = 50): Promise<ControlChange[]> {
  return queryRows<ControlChange>(client, sqlFile("control_history"), { tenant: tenant ?? "", limit });
}

export interface PipelineNats {
  jsm: JetStreamManager;
  js: JetStreamClient;
  subjectPrefix: string;
  consumers: readonly { stage: string; stream: string; durable: string }[];
}

export interface PipelineState {
  consumers: { stage: string; stream: string; pending: number; ack_pending: number; redelivered: number; error?: string }[];
  dlq: DlqStats | undefined;
  dlqError?: string;
  freshness: { newest_minute: string | null; events_5m: number };
}

export async function pipelineState(
  client: ClickHouseClient,
  nats: PipelineNats | undefined,
  tenant: string | undefined,
): Promise<PipelineState> {
  const consumers = nats
    ? await Promise.all(
        nats.consumers.map(async (c) => {
          try {
            const info = await nats.jsm.consumers.info(c.stream, c.durable);
            return {
              stage: c.stage,
              stream: c.stream,
              pending: info.num_pending,
              ack_pending: info.num_ack_pending,
              redelivered: info.num_redelivered,
            };
          } catch (err) {
            return { stage: c.stage, stream: c.stream, pending: 0, ack_pending: 0, redelivered: 0, error: (err as Error).message };
          }
        }),
      )
    : [];
  let dlq: DlqStats | undefined;
  let dlqError: string | undefined;
  if (nats) {
    try {
      // Reading the records is bounded: the console shows the newest picture of at most 10,000.
      const { entries } = await readDlq(nats.js, nats.jsm, { limit: 10_000, tenant }, nats.subjectPrefix);
      dlq = dlqStats(entries);
    } catch (err) {
      dlqError = (err as Error).message;
    }
  }
  const [f] = await queryRows<{ newest_minute: string; events_5m: string }>(client, sqlFile("ledger_freshness"));
  const newest = f && !f.newest_minute.startsWith("1970") ? `${f.newest_minute.replace(" ", "T")}Z` : null;
  return { consumers, dlq, dlqError, freshness: { newest_minute: newest, events_5m: Number(f?.events_5m ?? 0) } };
}

export { streamNames };
