// Writes controls to the costline-controls KV bucket and records every
// change, with who or what made it, in costline.control_changes.
import type { ClickHouseClient } from "@clickhouse/client";
import type { KV } from "@nats-io/kv";
import { controlSchema, type Control } from "../../schemas/index.ts";
import { controlKvKey } from "../nats/control-key.ts";

export function createControlStore(deps: { controls: KV; client: ClickHouseClient }) {
  async function audit(action: "set" | "clear", c: Control, by: string) {
    await deps.client.insert({
      table: "costline.control_changes",
      values: [
        {
          tenant: c.scope.tenant,
          scope_key: controlKvKey(c.scope),
          action,
          state: action === "clear" ? "closed" : c.state,
          reason: c.reason,
          changed_by: by,
          control: JSON.stringify(c),
        },
      ],
      format: "JSONEachRow",
    });
  }

  async function listControls(): Promise<Control[]> {
    const out: Control[] = [];
    for await (const key of await deps.controls.keys()) {
      const e = await deps.controls.get(key);
      if (e?.operation === "PUT" && e.value.length) {
        const v = controlSchema.safeParse(e.json());
        if (v.success) out.push(v.data);
      }
    }
    return out;
  }

  return {
    async setControl(c: Control, by: string): Promise<Control> {
      const control = controlSchema.parse({ ...c, set_by: by, set_at: new Date().toISOString() });
      // Audit first: a change that lands always has its row; a failed row stops the change.
      await audit("set", control, by);
      await deps.controls.put(controlKvKey(control.scope), JSON.stringify(control));
      return control;
    },
    async clearControl(scope: Control["scope"], by: string, reason: string): Promise<boolean> {
      const key = controlKvKey(scope);
      const current = await deps.controls.get(key);
      if (!current || current.operation !== "PUT" || !current.value.length) return false;
      await audit("clear", { ...controlSchema.parse(current.json()), reason }, by);
      await deps.controls.delete(key);
      return true;
    },
    async getControl(scope: Control["scope"]): Promise<Control | undefined> {
      const e = await deps.controls.get(controlKvKey(scope));
      return e?.operation === "PUT" && e.value.length ? controlSchema.parse(e.json()) : undefined;
    },
    listControls,
  };
}
export type ControlStore = ReturnType<typeof createControlStore>;
