// The routes the API really registers, read from the hono app that
// createApi builds (every optional part present), so a route added later is
// probed by the security suites without anyone listing it.
import { createApi, type ApiDeps } from "../../pipeline/api/server.ts";

export interface Route {
  method: string;
  /** hono's pattern, e.g. /v1/posts/:id/costs */
  path: string;
}

/** Stands in for every dependency: the routes are only registered here, never called. */
const anything: unknown = new Proxy(function () {}, {
  get: (_t, prop) => (prop === "then" ? undefined : anything),
  apply: () => anything,
});

const OPS_PATHS = ["/healthz", "/readyz", "/metrics"];

/** The web console's routes (session cookie, CSRF token), for the console's own authentication tests. */
export function registeredConsoleRoutes(): Route[] {
  const deps = new Proxy({} as ApiDeps, { get: (_t, prop) => (prop === "maxBodyBytes" ? undefined : anything) });
  const seen = new Map<string, Route>();
  for (const r of createApi(deps).routes) {
    if (r.method === "ALL" || r.path.startsWith("/v1/") || OPS_PATHS.includes(r.path)) continue;
    seen.set(`${r.method} ${r.path}`, { method: r.method, path: r.path });
  }
  return [...seen.values()];
}

export function registeredRoutes(): Route[] {
  const deps = new Proxy({} as ApiDeps, { get: (_t, prop) => (prop === "maxBodyBytes" ? undefined : anything) });
  const seen = new Map<string, Route>();
  for (const r of createApi(deps).routes) {
    if (r.method === "ALL") continue; // middleware
    // The web console (everything else at /) signs in with a session cookie, not a bearer key: registeredConsoleRoutes.
    if (!r.path.startsWith("/v1/") && !OPS_PATHS.includes(r.path)) continue;
    seen.set(`${r.method} ${r.path}`, { method: r.method, path: r.path });
  }
  return [...seen.values()];
}

/** The route's path with its :params replaced (URL-encoded). */
export function fillPath(pattern: string, value: (param: string) => string): string {
  return pattern.replace(/:([A-Za-z_]\w*)(\{[^}]*\})?/g, (_m, name: string) => encodeURIComponent(value(name)));
}

export const pathParams = (pattern: string): string[] => [...pattern.matchAll(/:([A-Za-z_]\w*)/g)].map((m) => m[1]!);

export interface Answer {
  status: number;
  text: string;
  type: string;
}

export async function call(
  base: string,
  method: string,
  pathAndQuery: string,
  opts: { key?: string; authorization?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.authorization !== undefined) headers.authorization = opts.authorization;
  else if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  let body: string | undefined = opts.rawBody;
  if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers["content-type"] ??= "application/json";
  const res = await fetch(`${base}${pathAndQuery}`, { method, headers, body: method === "GET" || method === "HEAD" ? undefined : body });
  return { status: res.status, text: await res.text(), type: res.headers.get("content-type") ?? "" };
}

/** Runs `tasks` with at most `limit` in flight. */
export async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    }),
  );
  return out;
}
