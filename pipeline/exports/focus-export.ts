// The FOCUS 1.2 export (FinOps Open Cost and Usage Specification): ledger rows
// grouped by hour as FOCUS cost and usage rows, written by ClickHouse itself as
// CSV (with a header) or Parquet. Bounded: a range with more rows than the
// limit is refused, asking for a narrower one.
import type { ClickHouseClient } from "@clickhouse/client";
import type { Readable } from "node:stream";
import * as z from "zod";
import { PermanentError } from "../errors.ts";
import { queryRows } from "../clickhouse/client.ts";
import { chTime } from "../ledger/ledger-row.ts";
import { sqlFile } from "../queries/sql-files.ts";
import { focusLabelParams } from "../../schemas/index.ts";

export const focusFormats = ["csv", "parquet"] as const;
export type FocusFormat = (typeof focusFormats)[number];

/** The longest range one export covers. */
export const MAX_EXPORT_DAYS = 366;

export const focusQuerySchema = z
  .object({
    tenant: z.string().max(128).optional(),
    from: z.iso.datetime({ offset: true }),
    to: z.iso.datetime({ offset: true }),
    format: z.enum(focusFormats).default("csv"),
  })
  // NaN (a time that failed its own check) passes these: its own message says what is wrong.
  .refine((q) => !(Date.parse(q.to) <= Date.parse(q.from)), { message: "to must be after from", path: ["to"] })
  .refine((q) => !(Date.parse(q.to) - Date.parse(q.from) > MAX_EXPORT_DAYS * 86_400_000), {
    message: `a range of at most ${MAX_EXPORT_DAYS} days`,
    path: ["to"],
  });
export type FocusQuery = z.infer<typeof focusQuerySchema>;

export const focusContentType: Record<FocusFormat, string> = {
  csv: "text/csv; charset=utf-8",
  parquet: "application/vnd.apache.parquet",
};

/** Raised when a range holds more rows than one export may return. */
export class ExportTooLargeError extends PermanentError {
  constructor(rows: number, max: number) {
    super("validation", `the range holds ${rows} FOCUS rows, more than ${max} (COSTLINE_EXPORT_MAX_ROWS): export a narrower range`);
  }
}

export async function focusExport(client: ClickHouseClient, q: FocusQuery, maxRows: number): Promise<Readable> {
  const params = { tenant: q.tenant ?? "", from: chTime(q.from), to: chTime(q.to), ...focusLabelParams() };
  const [count] = await queryRows<{ rows: string | number }>(client, sqlFile("focus_export_rows"), params);
  const rows = Number(count?.rows ?? 0);
  if (rows > maxRows) throw new ExportTooLargeError(rows, maxRows);
  // Date/Time columns as ISO 8601 in CSV, as FOCUS asks; Parquet keeps them typed.
  const format =
    q.format === "csv"
      ? "SETTINGS date_time_output_format = 'iso', format_csv_null_representation = '' FORMAT CSVWithNames"
      : "FORMAT Parquet";
  const { stream } = await client.exec({ query: `${sqlFile("focus_export")}\n${format}`, query_params: { ...params, limit: maxRows } });
  return stream;
}
