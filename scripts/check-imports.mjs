// Import rules, run by `npm run lint`: no file imports itself back (the
// dependency-cruiser rule in .dependency-cruiser.cjs), and no folder of
// pipeline/ does either — each folder's imports point down the layers
// (schemas ← shared clients and the runner ← stages ← faces). A folder edge
// that still points up is listed in KNOWN_UPWARD with why it stays; the check
// fails on a new one, and on a listed one that is gone (so the list shrinks).
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** "from -> to": why the edge is allowed for now. Each closes a folder cycle; remove one when its move is made. */
const KNOWN_UPWARD = {
  "pipeline/config -> pipeline/detect":
    "config.ts composes the detectors' parameter schemas (detect/cost-checks.ts, detect/registry.ts, which loads the detectors); they belong in config/",
  "pipeline/config -> pipeline/pricing": "config.ts composes pricing/pricing-config.ts; it belongs in config/",
  "pipeline/config -> pipeline/otlp": "config.ts reads the attribute map with otlp/otlp-config.ts; it belongs in config/",
  "pipeline/nats -> pipeline/stack":
    "nats/embedded-server.ts finds its process with stack/processes.ts (isAlive, processCommandLine): a process helper for a shared folder",
  "pipeline/clickhouse -> pipeline/api":
    "clickhouse/http-endpoint.ts (an HTTP face) authenticates with api/api-keys.ts; it belongs beside the API",
  "pipeline/clickhouse -> pipeline/queries": "clickhouse/http-endpoint.ts guards SQL with queries/; the client itself imports no queries",
  "pipeline/exports -> pipeline/api": "exports/routes-focus.ts is an API route module (requireKey, ApiEnv from api/auth.ts)",
  "pipeline/otlp -> pipeline/api": "otlp/routes-otlp.ts is an API route module (ApiEnv from api/auth.ts)",
  "pipeline/console -> pipeline/api":
    "the console and the API are both faces on one server; the console reads keys and a post's costs through api/",
};

const out = execFileSync(
  process.execPath,
  [
    path.join(root, "node_modules/dependency-cruiser/bin/dependency-cruise.mjs"),
    "pipeline",
    "schemas",
    "--config",
    ".dependency-cruiser.cjs",
    "--output-type",
    "json",
  ],
  { cwd: root, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
);
const result = JSON.parse(out);
const problems = [];
for (const v of result.summary.violations)
  problems.push(`${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => c.name ?? c).join(" → ")})` : ""}`);

const folderOf = (p) => {
  const parts = p.split("/");
  if (parts[0] === "schemas") return "schemas";
  if (parts[0] !== "pipeline") return undefined;
  return parts.length > 2 ? `pipeline/${parts[1]}` : "pipeline";
};
/** folder → folder → one file import that makes the edge */
const edges = new Map();
for (const m of result.modules) {
  const from = folderOf(m.source);
  for (const d of m.dependencies) {
    const to = folderOf(d.resolved);
    if (!from || !to || from === to) continue;
    const key = `${from} -> ${to}`;
    if (!edges.has(key)) edges.set(key, `${m.source} imports ${d.resolved}`);
  }
}
for (const key of Object.keys(KNOWN_UPWARD))
  if (!edges.has(key)) problems.push(`${key} is listed in KNOWN_UPWARD but no longer exists: remove it from the list`);

// Folder cycles over the edges left: Tarjan's strongly connected components.
const graph = new Map();
for (const key of edges.keys()) {
  if (key in KNOWN_UPWARD) continue;
  const [a, b] = key.split(" -> ");
  if (!graph.has(a)) graph.set(a, []);
  graph.get(a).push(b);
}
let counter = 0;
const index = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const components = [];
function connect(v) {
  index.set(v, counter);
  low.set(v, counter++);
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!index.has(w)) {
      connect(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) === index.get(v)) {
    const c = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      c.push(w);
    } while (w !== v);
    if (c.length > 1) components.push(c.sort());
  }
}
for (const v of graph.keys()) if (!index.has(v)) connect(v);
for (const c of components) {
  const inside = [...edges].filter(([k]) => !(k in KNOWN_UPWARD) && c.includes(k.split(" -> ")[0]) && c.includes(k.split(" -> ")[1]));
  problems.push(`folder cycle among ${c.join(", ")}:\n${inside.map(([k, why]) => `    ${k}  (${why})`).join("\n")}`);
}

if (problems.length) {
  process.stderr.write(`import check: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}`).join("\n")}\n`);
  process.exit(1);
}
process.stdout.write(
  `import check: ${result.summary.totalCruised} modules, no file or folder cycle (${Object.keys(KNOWN_UPWARD).length} known upward folder edges)\n`,
);
