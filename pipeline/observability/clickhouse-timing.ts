// Times every insert a process makes into ClickHouse, by table, without each
// caller doing it: the client handed to the stages and the API is wrapped once.
// Inserts arrive two ways — `client.insert({ table })`, and `client.command()`
// with an `INSERT INTO <table>` statement (idempotent inserts carry their
// settings in the SQL) — and both are timed into
// costline_clickhouse_insert_seconds{table}. Reads pass through untouched.
import type { ClickHouseClient } from "@clickhouse/client";
import type { Histogram } from "prom-client";

const INSERT_INTO = /^\s*INSERT\s+INTO\s+(?:TABLE\s+)?([A-Za-z0-9_.`"]+)/i;

/** The table an insert writes, without its database ("costline.ledger" → "ledger"); undefined for anything else. */
export function insertTable(sqlOrTable: string, isStatement = true): string | undefined {
  const name = isStatement ? INSERT_INTO.exec(sqlOrTable)?.[1] : sqlOrTable;
  if (!name) return undefined;
  return name.replace(/[`"]/g, "").split(".").pop() || undefined;
}

async function timed<T>(histogram: Histogram<"table">, table: string | undefined, run: () => Promise<T>): Promise<T> {
  if (!table) return run();
  const end = histogram.startTimer({ table });
  try {
    return await run();
  } finally {
    // Failed inserts are timed too: a ClickHouse that times out shows here as a wall of slow inserts.
    end();
  }
}

export function timeClickHouseInserts(client: ClickHouseClient, histogram: Histogram<"table">): ClickHouseClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === "insert") {
        return (params: Parameters<ClickHouseClient["insert"]>[0]) =>
          timed(histogram, insertTable(params.table, false), () => target.insert(params));
      }
      if (prop === "command") {
        return (params: Parameters<ClickHouseClient["command"]>[0]) =>
          timed(histogram, insertTable(params.query), () => target.command(params));
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
