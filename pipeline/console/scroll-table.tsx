// The table fragment the console's lists share: a scrolling table with a
// header row, its rows, and (when it has none) one row that says so.
import type { Child } from "hono/jsx";

/** A column heading; a numeric column is right-aligned like its cells. */
export type Column = string | { label: string; num: true };

export function ScrollTable<T>(p: {
  id: string;
  columns: readonly Column[];
  rows: readonly T[];
  row: (r: T) => Child;
  /** Shown in place of the rows when there are none (absent: an empty body). */
  empty?: string;
}) {
  return (
    <div class="scroll">
      <table id={p.id}>
        <thead>
          <tr>{p.columns.map((c) => (typeof c === "string" ? <th>{c}</th> : <th class="num">{c.label}</th>))}</tr>
        </thead>
        <tbody>
          {p.rows.length === 0 && p.empty !== undefined ? (
            <tr>
              <td colspan={p.columns.length} class="empty">
                {p.empty}
              </td>
            </tr>
          ) : (
            p.rows.map(p.row)
          )}
        </tbody>
      </table>
    </div>
  );
}
