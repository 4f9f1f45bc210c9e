// `costline silences list|add|expire`: notification silences, through the
// running stack's API (the admin key to add and expire).
//
//   npx costline silences add --matcher tenant=acme --matcher 'type=~"spike|creep"' --duration 2h --comment "load test"
//   npx costline silences list [--state active|pending|expired|all]
//   npx costline silences expire 6f1c…
import type { Config } from "../config/config.ts";
import { CostlineError } from "../errors.ts";
import { printJson, stackApi } from "./stack-client.ts";

const call = stackApi;
const print = printJson;

export interface SilenceAddOptions {
  matcher: string[];
  duration?: string;
  until?: string;
  start?: string;
  comment: string;
}

export const silencesCommand = {
  list: async (config: Config, o: { state?: string }) =>
    print(await call(config, "GET", `/v1/silences${o.state ? `?state=${encodeURIComponent(o.state)}` : ""}`)),
  add: async (config: Config, o: SilenceAddOptions) => {
    if (!o.duration === !o.until) throw new CostlineError("give --duration (e.g. 2h) or --until ISO, one of them");
    print(
      await call(config, "POST", "/v1/silences", {
        matchers: o.matcher,
        comment: o.comment,
        ...(o.duration ? { duration: /^\d+(\.\d+)?$/.test(o.duration) ? Number(o.duration) : o.duration } : {}),
        ...(o.until ? { ends_at: o.until } : {}),
        ...(o.start ? { starts_at: o.start } : {}),
      }),
    );
  },
  expire: async (config: Config, id: string) => print(await call(config, "DELETE", `/v1/silences/${encodeURIComponent(id)}`)),
};
