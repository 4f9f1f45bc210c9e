// Budgets in the costline-budgets KV bucket (the current ones) and every
// change to them in costline.budget_changes (the history), with who made it.
import type { ClickHouseClient } from "@clickhouse/client";
import type { KV } from "@nats-io/kv";
import { budgetSchema, parseBudget, type BudgetInput, type BudgetRecord } from "../../schemas/index.ts";
import { queryRows } from "../clickhouse/client.ts";
import { sqlFile } from "../queries/sql-files.ts";
import { budgetKvKey } from "./budget-key.ts";

export interface BudgetChange {
  changed_at: string;
  tenant: string;
  budget_key: string;
  action: "set" | "delete";
  period: string;
  amount_usd: string;
  hard: boolean;
  changed_by: string;
  /** The budget as it was set (or deleted): an object, not its stored JSON text. */
  budget: BudgetRecord;
}

export function createBudgetStore(deps: { kv: KV; client: ClickHouseClient }) {
  async function audit(action: "set" | "delete", key: string, b: BudgetRecord, by: string): Promise<void> {
    await deps.client.insert({
      table: "costline.budget_changes",
      values: [
        {
          tenant: b.scope.tenant,
          budget_key: key,
          action,
          period: b.period,
          amount_usd: b.amount_usd,
          hard: b.hard,
          changed_by: by,
          budget: JSON.stringify(b),
        },
      ],
      format: "JSONEachRow",
    });
  }

  async function get(key: string): Promise<BudgetRecord | undefined> {
    // Budget keys are escaped tokens; anything else (a caller's typo or attack) names no budget.
    if (!/^[-/=.\w]{1,1024}$/.test(key) || key.startsWith(".") || key.endsWith(".")) return undefined;
    const e = await deps.kv.get(key);
    return e?.operation === "PUT" && e.value.length ? parseBudget(e.json()).data : undefined;
  }

  return {
    async set(input: BudgetInput, by: string): Promise<{ key: string; budget: BudgetRecord }> {
      const budget = budgetSchema.parse(input);
      const key = budgetKvKey(budget);
      // Audit first: a change that lands always has its row; a failed row stops the change.
      await audit("set", key, budget, by);
      await deps.kv.put(key, JSON.stringify(budget));
      return { key, budget };
    },
    /** Deletes a budget by its KV key; false when there was none. */
    async delete(key: string, by: string): Promise<boolean> {
      const current = await get(key);
      if (!current) return false;
      await audit("delete", key, current, by);
      await deps.kv.delete(key);
      return true;
    },
    get,
    async list(): Promise<{ key: string; budget: BudgetRecord }[]> {
      const out: { key: string; budget: BudgetRecord }[] = [];
      for await (const key of await deps.kv.keys()) {
        const budget = await get(key);
        if (budget) out.push({ key, budget });
      }
      return out.sort((a, b) => a.key.localeCompare(b.key));
    },
    async history(tenant: string | undefined, limit: number): Promise<BudgetChange[]> {
      const rows = await queryRows<Omit<BudgetChange, "budget"> & { budget: string }>(deps.client, sqlFile("budget_history"), {
        tenant: tenant ?? "",
        limit,
      });
      // The column holds the budget's JSON text (written by audit above); answered as JSON it would be a string in a string.
      return rows.map((r) => ({ ...r, budget: JSON.parse(r.budget) as BudgetRecord }));
    },
  };
}
export type BudgetStore = ReturnType<typeof createBudgetStore>;
