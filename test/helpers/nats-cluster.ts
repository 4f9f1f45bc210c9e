// A three-node NATS cluster on loopback: nats-server processes joined by
// routes, JetStream on each (its own store), and the same users and
// permissions the embedded server has (credentials under `home`, rendered by
// pipeline/nats/credentials.ts and included by every node). A node can be
// killed (SIGKILL, as a crash) and started again on its ports and store, the
// way an operator restarts a failed machine. Used by the cluster tests, the
// chaos harness and `npm run cluster`.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureNatsAuth, roleCredentials, type BuiltinRole } from "../../pipeline/nats/credentials.ts";
import { freePort } from "../../pipeline/nats/embedded-server.ts";

export interface ClusterNodeSpec {
  name: string;
  port: number;
  clusterPort: number;
  monitorPort: number;
  dir: string;
}

export interface ClusterNode extends ClusterNodeSpec {
  url: string;
  /** The running nats-server, or undefined while the node is down. */
  child?: ChildProcess;
  pid?: number;
}

export interface NatsCluster {
  /** The home whose nats-auth holds the users (as `costline up` keeps them). */
  home: string;
  nodes: ClusterNode[];
  /** Every node's client URL, comma-separated: what NATS_URL takes. */
  url: string;
  /** User and password of one of costline's roles on this cluster. */
  credentials(role: BuiltinRole): { user: string; password: string };
  /** NATS_URL, NATS_USER and NATS_PASSWORD of `role`, and the replicas a costline process should ask for. */
  env(role?: BuiltinRole): Record<string, string>;
  /** Ends node `i` with SIGKILL (a crash: no goodbye to its peers). */
  kill(i: number): Promise<void>;
  /** Starts node `i` again on the same ports and store, and waits until it serves JetStream. */
  restart(i: number): Promise<void>;
  /** Waits until every running node serves JetStream and knows the meta leader. */
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  /** Where credentials (nats-auth/), node stores and logs go. */
  home: string;
  nodes?: number;
  prefix?: string;
  bin?: string;
  clusterName?: string;
  /** Fixed ports: clients on basePort + i, routes on basePort + 100 + i, monitoring on basePort + 200 + i (default: free ports). */
  basePort?: number;
}

/** The main configuration of one node: its ports, its store, its routes to every peer, and the users. */
export function renderNodeConfig(node: ClusterNodeSpec, peers: ClusterNodeSpec[], authFile: string, clusterName: string): string {
  const include = path.relative(node.dir, authFile);
  return [
    "# Written by costline's cluster helper at each start of this node.",
    `server_name: ${JSON.stringify(node.name)}`,
    `listen: "127.0.0.1:${node.port}"`,
    `http: "127.0.0.1:${node.monitorPort}"`,
    `pid_file: ${JSON.stringify(path.join(node.dir, "nats-server.pid"))}`,
    `jetstream { store_dir: ${JSON.stringify(path.join(node.dir, "store"))} }`,
    "cluster {",
    `  name: ${JSON.stringify(clusterName)}`,
    `  listen: "127.0.0.1:${node.clusterPort}"`,
    // Routes to every node, itself included: the server ignores its own, and the file stays the same on every node.
    `  routes: [${peers.map((p) => JSON.stringify(`nats-route://127.0.0.1:${p.clusterPort}`)).join(", ")}]`,
    "}",
    `include ${JSON.stringify(include)}`,
    "",
  ].join("\n");
}

function parentDeathSignal(bin: string, args: string[]): [string, string[]] {
  if (process.platform !== "linux") return [bin, args];
  const setpriv = spawnSync("sh", ["-c", "command -v setpriv"], { encoding: "utf8" });
  return setpriv.status === 0 ? [setpriv.stdout.trim(), ["--pdeathsig", "SIGKILL", bin, ...args]] : [bin, args];
}

/** What a node says of the JetStream meta group: its leader, its size and the peers it sees. */
interface MetaView {
  leader?: string;
  cluster_size?: number;
  replicas?: { name: string; current?: boolean }[];
}

/**
 * A node serves JetStream, and what it says of the meta group (null when it
 * does not serve). Not the full /healthz: after a restart it waits for every
 * idle consumer to be current, which nats-server 2.9 may take long to report
 * though nothing is missing.
 */
async function metaView(monitorPort: number): Promise<MetaView | null> {
  try {
    const base = `http://127.0.0.1:${monitorPort}`;
    const js = await fetch(`${base}/healthz?js-enabled-only=true`, { signal: AbortSignal.timeout(2000) });
    if (!js.ok) return null;
    const jsz = (await (await fetch(`${base}/jsz`, { signal: AbortSignal.timeout(2000) })).json()) as { meta_cluster?: MetaView };
    return jsz.meta_cluster ?? {};
  } catch {
    return null;
  }
}

export async function startNatsCluster(opts: NatsClusterOptions): Promise<NatsCluster> {
  const count = opts.nodes ?? 3;
  const prefix = opts.prefix ?? "costline";
  const bin = opts.bin ?? "nats-server";
  const clusterName = opts.clusterName ?? "costline";
  const { serverConfig } = await ensureNatsAuth(opts.home, prefix);
  const specs: ClusterNodeSpec[] = [];
  for (let i = 0; i < count; i++) {
    const name = `costline-nats-${i + 1}`;
    specs.push({
      name,
      port: opts.basePort ? opts.basePort + i : await freePort(),
      clusterPort: opts.basePort ? opts.basePort + 100 + i : await freePort(),
      monitorPort: opts.basePort ? opts.basePort + 200 + i : await freePort(),
      dir: path.join(opts.home, "nats-cluster", name),
    });
  }
  const nodes: ClusterNode[] = specs.map((s) => ({ ...s, url: `nats://127.0.0.1:${s.port}` }));

  const start = (node: ClusterNode) => {
    mkdirSync(node.dir, { recursive: true });
    const file = path.join(node.dir, "nats-server.conf");
    writeFileSync(file, renderNodeConfig(node, specs, serverConfig, clusterName), { mode: 0o600 });
    const log = openSync(path.join(node.dir, "nats-server.log"), "a");
    const [cmd, argv] = parentDeathSignal(bin, ["-c", file]);
    const child = spawn(cmd, argv, { stdio: ["ignore", log, log] });
    node.child = child;
    node.pid = child.pid;
    child.once("exit", () => {
      if (node.child === child) node.child = node.pid = undefined;
    });
  };

  const ready = async (timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const up = nodes.filter((n) => n.child);
      const views = await Promise.all(up.map((n) => metaView(n.monitorPort)));
      // Every running node knows the leader and all the peers, and the leader sees every running peer
      // current: before that, a stream of as many replicas as nodes finds "no suitable peers for placement".
      const leader = views.find((v, i) => v?.leader === up[i]!.name) ?? null;
      const peersCurrent =
        leader !== null && up.every((n) => n.name === leader.leader || leader.replicas?.some((r) => r.name === n.name && r.current));
      const states = views.map((v) => Boolean(v?.leader) && (v?.cluster_size ?? 0) >= count && peersCurrent);
      if (states.every(Boolean)) return;
      if (Date.now() > deadline) {
        const down = up.filter((_, i) => !states[i]).map((n) => `${n.name} (${path.join(n.dir, "nats-server.log")})`);
        throw new Error(`NATS cluster not healthy within ${timeoutMs} ms: ${down.join(", ")}`);
      }
      await sleep(200);
    }
  };

  const stopNode = async (node: ClusterNode, signal: NodeJS.Signals) => {
    const child = node.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(force);
  };

  for (const n of nodes) start(n);
  const cluster: NatsCluster = {
    home: opts.home,
    nodes,
    url: nodes.map((n) => n.url).join(","),
    credentials(role) {
      const c = roleCredentials(opts.home, role);
      if (!c) throw new Error(`no NATS credentials under ${opts.home}/nats-auth`);
      return c;
    },
    env(role = "pipeline") {
      const { user, password } = cluster.credentials(role);
      return { NATS_URL: cluster.url, NATS_USER: user, NATS_PASSWORD: password, COSTLINE_STREAM_REPLICAS: String(count) };
    },
    kill: (i) => stopNode(nodes[i]!, "SIGKILL"),
    async restart(i) {
      const node = nodes[i]!;
      if (node.child) throw new Error(`${node.name} is running`);
      start(node);
      await ready();
    },
    ready,
    async stop() {
      await Promise.all(nodes.map((n) => stopNode(n, "SIGTERM")));
    },
  };
  try {
    await ready();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
