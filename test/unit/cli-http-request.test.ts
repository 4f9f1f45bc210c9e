// The CLI's node:http client for a stack's API: the body it sends, the
// answer read whole or streamed, and a refused connection as an error.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpRequest } from "../../pipeline/cli/http-request.ts";

let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () => {
      if (req.url === "/stream") {
        res.writeHead(200, { "content-type": "text/csv" });
        res.write("a,b\n");
        setTimeout(() => res.end("1,2\n"), 20);
        return;
      }
      const status = req.url === "/missing" ? 404 : 200;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          auth: req.headers.authorization ?? null,
          length: req.headers["content-length"] ?? null,
          body,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("httpRequest", () => {
  it("sends the method, headers and a body with its byte length (not its character count)", async () => {
    const res = await httpRequest(`${base}/v1/sql?x=1`, {
      method: "POST",
      headers: { authorization: "Bearer k", "content-type": "application/json" },
      body: JSON.stringify({ query: "SELECT 'é'" }),
    });
    expect(res.ok).toBe(true);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      method: "POST",
      url: "/v1/sql?x=1",
      auth: "Bearer k",
      length: String(Buffer.byteLength(JSON.stringify({ query: "SELECT 'é'" }))),
      body: JSON.stringify({ query: "SELECT 'é'" }),
    });
  });

  it("answers a non-2xx status as not ok, with its body readable", async () => {
    const res = await httpRequest(`${base}/missing`);
    expect(res.ok).toBe(false);
    expect(res.status).toBe(404);
    expect(JSON.parse(await res.text())).toMatchObject({ method: "GET", body: "" });
  });

  it("streams a body that arrives in parts", async () => {
    const res = await httpRequest(`${base}/stream`);
    const parts: string[] = [];
    for await (const chunk of res.stream) parts.push((chunk as Buffer).toString("utf8"));
    expect(parts.join("")).toBe("a,b\n1,2\n");
  });

  it("ends a call the server leaves without an answer, with an error naming the wait", async () => {
    const silent = http.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      await expect(httpRequest(`http://127.0.0.1:${port}/`, { timeoutMs: 100 })).rejects.toThrow(
        /no answer from http:\/\/127\.0\.0\.1:\d+ for 0\.1 s/,
      );
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("rejects when nothing listens", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(httpRequest(`http://127.0.0.1:${port}/`)).rejects.toThrow(/ECONNREFUSED/);
  });
});
