// The chaos run's outage proxy (used in server mode, where no ClickHouse
// server is at hand here): traffic flows while up, is refused while down,
// and flows again on the same URL once up.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { startOutageProxy } from "../chaos/outage-proxy.ts";

const server = http.createServer((_req, res) => res.end("pong"));
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("outage proxy", () => {
  it("passes traffic, refuses it while down, and passes it again on the same URL", async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const proxy = await startOutageProxy(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    const get = () => fetch(proxy.url, { headers: { connection: "close" } }).then((r) => r.text());
    expect(await get()).toBe("pong");
    await proxy.down();
    await expect(get()).rejects.toThrow();
    await proxy.up();
    expect(await get()).toBe("pong");
    await proxy.close();
  });
});
