// The CLI's HTTP client for a running stack's API, on node:http. fetch
// (undici) costs a CLI call 50–80 ms to load and connect — a fifth of a
// report's start-up — for one request to loopback. An answer is read whole
// (text, json) or streamed (an export). One connection per request: a CLI
// call makes one or two, and a pooled socket would only delay the exit. A
// stack that goes silent for `timeoutMs` (fetch's 300 s by default) ends the
// call with an error rather than leaving it waiting.
import http from "node:http";
import type { Readable } from "node:stream";

export interface ApiRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Longest silence of the connection, before the answer or inside its body. */
  timeoutMs?: number;
}

export interface ApiResponse {
  status: number;
  ok: boolean;
  /** The body as it arrives; read it once, through this or text()/json(). */
  stream: Readable;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

export async function httpRequest(url: string, init: ApiRequest = {}): Promise<ApiResponse> {
  const target = new URL(url);
  // https only for a stack behind TLS: its module (and tls) loads only then.
  const client = target.protocol === "https:" ? await import("node:https") : http;
  const headers = { ...init.headers };
  if (init.body !== undefined) headers["content-length"] = String(Buffer.byteLength(init.body));
  return new Promise((resolve, reject) => {
    const req = client.request(target, { method: init.method ?? "GET", headers, agent: false }, (res) => {
      const status = res.statusCode ?? 0;
      const text = async (): Promise<string> => {
        const chunks: Buffer[] = [];
        for await (const chunk of res) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks).toString("utf8");
      };
      resolve({ status, ok: status >= 200 && status < 300, stream: res, text, json: async () => JSON.parse(await text()) as unknown });
    });
    const timeoutMs = init.timeoutMs ?? 300_000;
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer from ${target.origin} for ${timeoutMs / 1000} s`)));
    req.on("error", reject);
    req.end(init.body);
  });
}
