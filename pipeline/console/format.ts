// Display helpers for the console. Money arrives as exact decimal strings and
// is only rounded for display; the exact value travels in data-usd.
import { Decimal } from "../pricing/decimal.ts";

export function usd(exact: string | Decimal): string {
  const d = new Decimal(exact);
  const abs = d.abs();
  const places = abs.isZero() || abs.gte(1) ? 2 : abs.gte(0.01) ? 4 : 6;
  const [whole, frac] = d.toFixed(places).split(".");
  const grouped = whole!.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `$${grouped}${frac ? `.${frac}` : ""}`;
}

export const pct = (share: number) => `${(share * 100).toFixed(share < 0.1 ? 1 : 0)} %`;

/** "2026-12-01 10:00" from an ISO time or ClickHouse's "2026-12-01 10:00:00.000". */
export const when = (t: string) => t.replace("T", " ").replace(/(:\d\d)(:\d\d(\.\d+)?)?Z?$/, "$1");

/**
 * A datetime-local input's value ("2026-12-01T16:00", seconds optional, a Z
 * allowed) as the ISO UTC time the API's schemas take ("2026-12-01T16:00:00Z").
 * Anything else is returned as it is, for the schema to refuse with its reason.
 */
export function utcFromInput(value: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d)(:\d\d(\.\d+)?)?Z?$/.exec(value);
  return m ? `${m[1]}${m[2] ?? ":00"}Z` : value;
}

export const count = (n: number | string) => Number(n).toLocaleString("en-US");
