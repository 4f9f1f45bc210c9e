// `npm run cluster`: a three-node NATS cluster on loopback (routes,
// JetStream, costline's users and permissions), for running several costline
// processes against it by hand. Prints the URLs and stays up until Ctrl-C.
//
//   npm run cluster -- [--home DIR] [--nodes N] [--base-port P]
//   NATS_URL=<printed list> NATS_USER=costline-pipeline NATS_PASSWORD=… COSTLINE_STREAM_REPLICAS=3 npx costline run enrich ledger
import path from "node:path";
import { parseArgs } from "node:util";
import { builtinUsers, natsAuthPaths } from "../pipeline/nats/credentials.ts";
import { startNatsCluster } from "../test/helpers/nats-cluster.ts";

const { values } = parseArgs({
  options: {
    home: { type: "string", default: process.env.COSTLINE_HOME ? path.join(process.env.COSTLINE_HOME, "cluster") : "./.costline-cluster" },
    nodes: { type: "string", default: "3" },
    "base-port": { type: "string" },
  },
});
const nodes = Number.parseInt(values.nodes, 10);
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 5) throw new Error("--nodes takes 1 to 5");
const basePort = values["base-port"] ? Number.parseInt(values["base-port"], 10) : undefined;
const home = path.resolve(values.home);

const cluster = await startNatsCluster({ home, nodes, basePort, bin: process.env.NATS_SERVER_BIN });
const lines = [
  `NATS cluster up: ${nodes} nodes with JetStream, routed on loopback.`,
  ...cluster.nodes.map(
    (n) => `  ${n.name}  ${n.url}  (monitoring http://127.0.0.1:${n.monitorPort}, log ${path.join(n.dir, "nats-server.log")})`,
  ),
  "Run costline against it with:",
  `  NATS_URL=${cluster.url}`,
  `  COSTLINE_STREAM_REPLICAS=${nodes}`,
  `  NATS_USER=${builtinUsers.pipeline} (stages), ${builtinUsers.operator} (API), ${builtinUsers.publisher} (producers);`,
  `  their passwords: ${natsAuthPaths(home).credentials}`,
  "Ctrl-C stops it.",
  "",
];
process.stdout.write(lines.join("\n"));
await new Promise<void>((resolve) => {
  process.once("SIGINT", () => resolve());
  process.once("SIGTERM", () => resolve());
});
process.stdout.write("stopping the cluster…\n");
await cluster.stop();
process.stdout.write("stopped.\n");
