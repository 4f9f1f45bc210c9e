// compose.cluster.yaml, the three-node NATS override of compose.yaml, without
// Docker: the override and the file Compose makes of the two (merged the way
// Compose merges: mappings key by key, volumes by their target, ports added,
// command replaced) are valid against the Compose Specification's schema;
// three NATS nodes with distinct names route to one another from one
// configuration that `nats-server -t` accepts, and take their name from the
// environment; every costline service gets every node's URL and replicas 3,
// accepted by the real configuration parser.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { Ajv } from "ajv";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../pipeline/config/config.ts";
import { stageNames } from "../../pipeline/stack/stage-registry.ts";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const read = (rel: string) => readFileSync(path.join(repoRoot, rel), "utf8");

type Yaml = Record<string, unknown>;
interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const base = parseYaml(read("compose.yaml"), { merge: true }) as Yaml;
const override = parseYaml(read("compose.cluster.yaml"), { merge: true }) as Yaml;

const isMap = (v: unknown): v is Yaml => typeof v === "object" && v !== null && !Array.isArray(v);
const target = (volume: string) => volume.split(":")[1];

/** Compose's merge of an override into a file (compose-spec "merge": the rules for the keys these files use). */
function merge(a: unknown, b: unknown, key = ""): unknown {
  if (isMap(a) && isMap(b)) {
    const out: Yaml = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in a ? merge(a[k], v, k) : v;
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (key === "volumes") return [...a.filter((v) => !b.some((w) => target(w as string) === target(v as string))), ...b];
    if (key === "ports") return [...new Set([...a, ...b])];
  }
  return b;
}

const merged = merge(base, override) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = merged.services;
const nodes = ["nats", "nats-2", "nats-3"];
const costline = Object.entries(services).filter(([, s]) => s.image?.startsWith("costline:"));

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR:?error} (a missing required one reads as empty here). */
const interpolate = (value: string, env: Record<string, string>) =>
  value.replace(/\$\{(\w+)(?::?([-?])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) =>
    env[name] !== undefined && env[name] !== "" ? env[name]! : op === "-" ? arg! : "",
  );

const secrets = {
  COSTLINE_ADMIN_KEY: "cl_0123456789ab_abcdefghijklmnopqrstuvwxyz0123456789",
  COSTLINE_CLICKHOUSE_PASSWORD: "pw-costline",
  COSTLINE_METRICS_TOKEN: "metrics-token",
  COSTLINE_NATS_PIPELINE_PASSWORD: "pw-nats-pipeline",
  COSTLINE_NATS_OPERATOR_PASSWORD: "pw-nats-operator",
  COSTLINE_NATS_PUBLISHER_PASSWORD: "pw-nats-publisher",
};

describe("compose.cluster.yaml against the Compose Specification schema", () => {
  const schema = JSON.parse(readFileSync(path.resolve(repoRoot, "../shared/data/compose-spec/compose-spec.json"), "utf8"));
  const ajv = new Ajv({ strict: false, validateSchema: false, allErrors: true });
  const validate = ajv.compile(schema);

  it("validates alone and merged into compose.yaml", () => {
    expect(validate(override), ajv.errorsText(validate.errors, { separator: "\n" })).toBe(true);
    expect(validate(merged), ajv.errorsText(validate.errors, { separator: "\n" })).toBe(true);
  });

  it("the validator rejects a misspelled key in the override (it can fail)", () => {
    const broken = structuredClone(override) as { services: Record<string, Yaml> };
    broken.services["nats-2"]!.enviroment = {};
    expect(validate(broken)).toBe(false);
  });
});

describe("the merged cluster", () => {
  it("runs three NATS nodes from one cluster configuration, each with its own name and store", () => {
    const names = nodes.map((n) => services[n]?.environment?.NATS_SERVER_NAME);
    expect(new Set(names).size).toBe(3);
    for (const n of nodes) {
      const s = services[n]!;
      expect(s.image, n).toBe(services.nats!.image);
      expect(s.command, n).toEqual(["--config", "/etc/nats/nats-cluster.conf"]);
      expect(s.volumes, n).toEqual(
        expect.arrayContaining([
          "./deploy/nats/nats.conf:/etc/nats/nats.conf:ro",
          "./deploy/nats/nats-cluster.conf:/etc/nats/nats-cluster.conf:ro",
        ]),
      );
      const data = s.volumes!.find((v) => target(v) === "/data")!;
      expect(merged.volumes, `${n}'s store is a declared volume`).toHaveProperty(data.split(":")[0]!);
      expect(s.healthcheck?.test.join(" "), n).toContain("/healthz");
      // The passwords nats.conf reads.
      for (const k of Object.keys(secrets).filter((k) => k.startsWith("COSTLINE_NATS_"))) expect(s.environment, n).toHaveProperty(k);
    }
    const stores = nodes.map((n) => services[n]!.volumes!.find((v) => target(v) === "/data")!.split(":")[0]);
    expect(new Set(stores).size).toBe(3);
    // Only the first node takes clients from the host; no route port leaves the compose network.
    expect(nodes.flatMap((n) => services[n]!.ports ?? []).filter((p) => /:(4222|6222)$/.test(p))).toEqual(["127.0.0.1:4222:4222"]);
  });

  it("routes every node to every node, and nats-server accepts the file with the node's name from the environment", () => {
    const conf = read("deploy/nats/nats-cluster.conf");
    expect(conf).toMatch(/^include "nats\.conf"$/m);
    const routes = [...conf.matchAll(/"nats-route:\/\/([\w-]+):6222"/g)].map((m) => m[1]);
    expect(routes.sort()).toEqual([...nodes].sort());
    const bin = process.env.NATS_SERVER_BIN || "nats-server";
    for (const n of nodes) {
      const env = Object.fromEntries(Object.entries(services[n]!.environment!).map(([k, v]) => [k, interpolate(String(v), secrets)]));
      const r = spawnSync(bin, ["-t", "-c", path.join(repoRoot, "deploy/nats/nats-cluster.conf")], {
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "", ...env },
      });
      expect(r.status, `${n}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    const unnamed = spawnSync(bin, ["-t", "-c", path.join(repoRoot, "deploy/nats/nats-cluster.conf")], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", ...secrets },
    });
    expect(unnamed.status, "a node without NATS_SERVER_NAME is refused").not.toBe(0);
    expect(existsSync(path.join(repoRoot, "deploy/nats/nats.conf"))).toBe(true);
  });

  it("every costline service reaches all three nodes, keeps three copies of every stream, and waits for a majority", () => {
    expect(costline.map(([n]) => n).sort()).toEqual(["api", ...stageNames].sort());
    for (const [name, s] of costline) {
      const vars = Object.fromEntries(Object.entries(s.environment!).map(([k, v]) => [k, interpolate(String(v), secrets)]));
      const config = loadConfig({ ...vars, COSTLINE_CONFIG: path.join(repoRoot, "deploy/costline/costline.json") });
      expect(config.nats.url?.split(","), name).toEqual(nodes.map((n) => `nats://${n}:4222`));
      expect(config.streams.replicas, name).toBe(3);
      // Its role's credentials survive the merge.
      expect(config.nats.user, name).toBe(name === "api" ? "costline-operator" : "costline-pipeline");
      expect(Object.keys(s.depends_on ?? {}), name).toEqual(expect.arrayContaining(["nats", "nats-2", "clickhouse"]));
    }
  });
});
