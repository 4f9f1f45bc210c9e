// Refuses a JSON body holding a lone UTF-16 surrogate ("\ud800"): such text
// has no UTF-8 form, so a store or ClickHouse would fail on it half-way
// through a change. Checked before any handler runs, so the request answers
// 400 and changes nothing.
import type { MiddlewareHandler } from "hono";
import { hasLoneSurrogate } from "../queries/sql-literal.ts";
import type { ApiEnv } from "./auth.ts";

function invalidAt(v: unknown, path: string): string | undefined {
  if (typeof v === "string") return hasLoneSurrogate(v) ? path || "(body)" : undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const bad = invalidAt(v[i], `${path}[${i}]`);
      if (bad) return bad;
    }
    return undefined;
  }
  if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      if (hasLoneSurrogate(k)) return `${path}.${k}`;
      const bad = invalidAt(x, path ? `${path}.${k}` : k);
      if (bad) return bad;
    }
  }
  return undefined;
}

export function validText(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const bad = hasLoneSurrogate(decodeURIComponentSafe(c.req.url)) ? "(url)" : undefined;
    if (bad) return c.json({ error: `invalid text in ${bad}: a lone UTF-16 surrogate has no UTF-8 form` }, 400);
    // Only text bodies are read here: reading a binary one (OTLP protobuf, a
    // gzip-encoded body) as text would hand its route a re-encoded copy.
    const type = c.req.header("content-type") ?? "";
    const encoded = (c.req.header("content-encoding") ?? "identity").toLowerCase() !== "identity";
    const textBody = !encoded && (type === "" || /json|text\/|x-www-form-urlencoded/i.test(type));
    if (textBody && ["POST", "PUT", "PATCH", "DELETE"].includes(c.req.method)) {
      const text = await c.req.text();
      if (text.includes("\\u")) {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined; // not JSON: the route answers that
        }
        const at = invalidAt(body, "");
        if (at) return c.json({ error: `invalid text in ${at}: a lone UTF-16 surrogate has no UTF-8 form` }, 400);
      }
    }
    await next();
  };
}

function decodeURIComponentSafe(url: string): string {
  try {
    return decodeURIComponent(url);
  } catch {
    return url;
  }
}
