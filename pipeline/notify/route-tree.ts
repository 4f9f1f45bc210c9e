// Walks the route tree for one alert, the way Alertmanager does: children are
// tried in order, the first matching child takes the alert (later siblings
// too when it says `continue`), and a node none of whose children match is
// the answer itself. Timing and group_by are inherited from the parent.
// Returns one target per channel (the first route to name a channel wins).
import type { RouteConfig } from "../../schemas/index.ts";
import { matchesAll, type Labels } from "./labels.ts";
import type { NotifyConfig } from "../config/notify-config.ts";

export interface RouteTarget {
  channel: string;
  /** Where in the tree ("0.2"): part of the group key, so two routes never share a group. */
  routeId: string;
  groupBy: readonly string[];
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
}

interface Inherited {
  channels: readonly string[];
  groupBy: readonly string[];
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
}

function inherit(r: RouteConfig, p: Inherited): Inherited {
  return {
    channels: r.channels ?? p.channels,
    groupBy: r.group_by ?? p.groupBy,
    groupWaitMs: r.group_wait ?? p.groupWaitMs,
    groupIntervalMs: r.group_interval ?? p.groupIntervalMs,
    repeatIntervalMs: r.repeat_interval ?? p.repeatIntervalMs,
  };
}

/** The matched leaves' settings, in tree order. */
function walk(r: RouteConfig, id: string, p: Inherited, labels: Labels): { id: string; s: Inherited }[] {
  const s = inherit(r, p);
  const found: { id: string; s: Inherited }[] = [];
  for (let i = 0; i < r.routes.length; i++) {
    const child = r.routes[i]!;
    if (!matchesAll(child.matchers, labels)) continue;
    found.push(...walk(child, id === "" ? `${i}` : `${id}.${i}`, s, labels));
    if (!child.continue) break;
  }
  return found.length ? found : [{ id: id || "root", s }];
}

export function routeAlert(route: NotifyConfig["route"], labels: Labels): RouteTarget[] {
  const root: Inherited = {
    channels: [],
    groupBy: route.group_by,
    groupWaitMs: route.group_wait,
    groupIntervalMs: route.group_interval,
    repeatIntervalMs: route.repeat_interval,
  };
  const out = new Map<string, RouteTarget>();
  for (const { id, s } of walk(route, "", root, labels))
    for (const channel of s.channels)
      if (!out.has(channel))
        out.set(channel, {
          channel,
          routeId: id,
          groupBy: s.groupBy,
          groupWaitMs: s.groupWaitMs,
          groupIntervalMs: s.groupIntervalMs,
          repeatIntervalMs: s.repeatIntervalMs,
        });
  return [...out.values()];
}

/** The group an alert joins on a target: the channel, the route, and the values of its group_by labels. */
export function groupOf(t: RouteTarget, labels: Labels): { key: string; labels: Record<string, string> } {
  const groupLabels = Object.fromEntries(t.groupBy.map((l) => [l, labels[l] ?? ""]));
  return { key: `${t.channel}|${t.routeId}|${JSON.stringify(groupLabels)}`, labels: groupLabels };
}
