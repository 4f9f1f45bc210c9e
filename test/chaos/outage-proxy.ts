// A TCP proxy in front of a ClickHouse server, for outages on demand: while
// it is down it refuses new connections and cuts the open ones, exactly what
// the pipeline sees when the server goes away; up again, traffic flows.
import net from "node:net";

export interface OutageProxy {
  url: string;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startOutageProxy(target: URL): Promise<OutageProxy> {
  const sockets = new Set<net.Socket>();
  const targetPort = Number(target.port || (target.protocol === "https:" ? 443 : 8123));
  let server: net.Server | undefined;
  let port = 0;

  async function listen(): Promise<void> {
    const s = net.createServer((client) => {
      const upstream = net.connect(targetPort, target.hostname);
      for (const sock of [client, upstream]) {
        sockets.add(sock);
        sock.on("close", () => sockets.delete(sock));
        sock.on("error", () => sock.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolve());
    });
    port = (s.address() as net.AddressInfo).port;
    server = s;
  }

  async function down(): Promise<void> {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  await listen();
  const url = new URL(target.toString());
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return { url: url.toString().replace(/\/$/, ""), down, up: listen, close: down };
}
