// `costline alerts list`: the alerts the key may read, through the running
// stack's API (GET /v1/alerts), one JSON document.
//
//   npx costline alerts list --state firing --severity high,critical --since 2026-11-30T00:00:00Z
import type { Config } from "../config/config.ts";
import { printJson, stackApi } from "./stack-client.ts";

export interface AlertsListOptions {
  state?: string;
  severity?: string;
  type?: string;
  scope?: string;
  tenant?: string;
  since?: string;
  until?: string;
  limit?: string;
  offset?: string;
}

export async function runAlertsList(config: Config, o: AlertsListOptions): Promise<void> {
  const q = new URLSearchParams();
  const put = (k: string, v: string | undefined) => v !== undefined && v !== "" && q.set(k, v);
  put("state", o.state);
  put("severity", o.severity);
  put("type", o.type);
  put("scope", o.scope);
  put("tenant", o.tenant);
  put("from", o.since);
  put("to", o.until);
  put("limit", o.limit);
  put("offset", o.offset);
  const qs = q.toString();
  printJson(await stackApi(config, "GET", `/v1/alerts${qs ? `?${qs}` : ""}`));
}
