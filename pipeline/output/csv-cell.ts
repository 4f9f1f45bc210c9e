// CSV cells that a spreadsheet opens as text, never as a formula (OWASP "CSV
// Injection"): a text cell starting with = + - @, a tab or a carriage return
// (or their full-width forms, which some spreadsheets also read as formula
// starts) is prefixed with a single quote and the cell is quoted. Numeric
// columns keep their numbers: a value that is a plain decimal number
// ("-5.25", a refund) is written as is, so sums in the spreadsheet still work;
// anything else in a numeric column is treated as text.

const formulaStart = /^[=+\-@\t\r\uff1d\uff0b\uff0d\uff20]/;
const plainNumber = /^-?\d+(\.\d+)?$/;
const needsQuotes = /[",\n\r]/;

/** One cell; `numeric` for a column that holds numbers (counts, decimal amounts). */
export function csvCell(value: unknown, numeric = false): string {
  const s = value === null || value === undefined ? "" : String(value);
  if (numeric && plainNumber.test(s)) return s;
  if (formulaStart.test(s)) return `"'${s.replace(/"/g, '""')}"`;
  return needsQuotes.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A whole table: the header row, then one line per row; `numericColumns` name the number columns. */
export function csvTable(
  rows: readonly Record<string, unknown>[],
  columns: readonly string[],
  numericColumns: readonly string[] = [],
): string {
  const numeric = new Set(numericColumns);
  const line = (cells: string[]) => cells.join(",");
  return (
    [line(columns.map((c) => csvCell(c))), ...rows.map((r) => line(columns.map((c) => csvCell(r[c], numeric.has(c)))))].join("\n") + "\n"
  );
}
