// compose.yaml without Docker: valid against the Compose Specification's JSON
// schema (../shared/data/compose-spec beside the repository), and consistent
// with the repository — one built image for every costline service, one
// service per stage, every mounted file present, Prometheus scraping every
// costline service, pinned images, health-gated start order, every required
// variable documented in deploy/env.example, and each service's environment
// accepted by the real configuration parser. Also the Dockerfile's promises
// (pinned slim base, no chdb, non-root) and the NATS config (`nats-server -t`).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { Ajv } from "ajv";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../pipeline/config/config.ts";
import { stageNames } from "../../pipeline/stack/stage-registry.ts";
import { stageSpecs } from "../../pipeline/nats/stage-specs.ts";
import { operatorPermissions, pipelinePermissions, publisherPermissions } from "../../pipeline/nats/roles.ts";

const repoRoot = path.resolve(import.meta.dirname, "../..");
const read = (rel: string) => readFileSync(path.join(repoRoot, rel), "utf8");

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: string | number };
}
const composeText = read("compose.yaml");
const compose = parseYaml(composeText, { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const costlineServices = Object.entries(services).filter(([, s]) => s.image?.startsWith("costline:"));

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(
    /\$\$|\$\{(\w+)(?:(:?)([-?])([^}]*))?\}/g,
    (whole, name: string | undefined, colon: string, op: string, arg: string) => {
      if (whole === "$$") return "$";
      const v = env[name!];
      const missing = v === undefined || (colon === ":" && v === "");
      if (op === "?" && missing) throw new Error(`${name} is required: ${arg}`);
      return missing && op === "-" ? arg : (v ?? "");
    },
  );
}

/** The variables deploy/env.example lists, set or commented out. */
const exampleEnv = Object.fromEntries(
  read("deploy/env.example")
    .split("\n")
    .map((l) => /^#?\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1]!, m[0].startsWith("#") ? undefined : m[2]!]),
) as Record<string, string | undefined>;

describe("compose.yaml against the Compose Specification schema", () => {
  const schema = JSON.parse(readFileSync(path.resolve(repoRoot, "../shared/data/compose-spec/compose-spec.json"), "utf8"));
  // The schema declares draft-07 over https and uses union types: see that folder's README.
  const ajv = new Ajv({ strict: false, validateSchema: false, allErrors: true });
  const validate = ajv.compile(schema);

  it("validates", () => {
    const ok = validate(compose);
    expect(ok, ajv.errorsText(validate.errors, { separator: "\n" })).toBe(true);
  });

  it("the validator rejects a misspelled key and a wrong type (it can fail)", () => {
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services.nats!.portz = ["4222:4222"];
    expect(validate(broken)).toBe(false);
    expect(validate.errors).toContainEqual(
      expect.objectContaining({ instancePath: "/services/nats", params: { additionalProperty: "portz" } }),
    );
    const wrong = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    wrong.services.ledger!.depends_on = { api: { condition: "service_ready" } };
    expect(validate(wrong)).toBe(false);
  });
});

describe("compose.yaml and the repository", () => {
  it("every costline service runs the one image built by the Dockerfile", () => {
    expect(costlineServices.length).toBeGreaterThanOrEqual(stageNames.length + 1);
    const images = new Set(costlineServices.map(([, s]) => s.image));
    expect([...images]).toEqual(["costline:${COSTLINE_IMAGE_TAG:-local}"]);
    for (const [name, s] of costlineServices) {
      expect(s.build, name).toEqual({ context: ".", dockerfile: "Dockerfile" });
      expect(s.command?.[0], `${name} runs \`costline run\``).toBe("run");
    }
    expect(existsSync(path.join(repoRoot, "Dockerfile"))).toBe(true);
    // No other service builds anything.
    for (const [name, s] of Object.entries(services)) if (!s.image?.startsWith("costline:")) expect(s.build, name).toBeUndefined();
  });

  it("one service per stage, named after it, plus the API", () => {
    for (const stage of stageNames) expect(services[stage]?.command, stage).toEqual(["run", stage]);
    expect(services.api?.ports).toContain("8080:8080");
    for (const [name, s] of costlineServices) for (const st of s.command!.slice(1)) expect(stageNames, `${name} runs ${st}`).toContain(st);
  });

  it("stages that keep state in the process run once; partitioned and stateless ones scale", () => {
    expect(services.notifier?.deploy?.replicas).toBe(1);
    // Every stage the stage table partitions owns partitions through leases: several replicas, two by default.
    const partitioned = stageNames.filter((n) => stageSpecs[n].partitioned);
    expect(partitioned).toEqual(["ledger", "windower", "detector", "allocator"]);
    for (const stage of partitioned) {
      const env = `COSTLINE_${stage.toUpperCase()}_REPLICAS`;
      expect(String(services[stage]?.deploy?.replicas), stage).toBe(`\${${env}:-2}`);
    }
    expect(String(services.enrich?.deploy?.replicas)).toMatch(/^\$\{COSTLINE_ENRICH_REPLICAS:-\d+\}$/);
  });

  it("every file or folder a service mounts exists in the repository", () => {
    let binds = 0;
    for (const [name, s] of Object.entries(services))
      for (const v of s.volumes ?? []) {
        const source = v.split(":")[0]!;
        if (!source.startsWith(".")) {
          expect(compose.volumes, `${name}: named volume ${source} is declared`).toHaveProperty(source);
          continue;
        }
        binds++;
        const abs = path.join(repoRoot, source);
        expect(existsSync(abs), `${name} mounts ${source}`).toBe(true);
        if (statSync(abs).isDirectory()) expect(readdirSync(abs).length, `${source} is not empty`).toBeGreaterThan(0);
      }
    expect(binds).toBeGreaterThanOrEqual(6);
  });

  it("Prometheus scrapes every costline service (every replica, by DNS) on the port it serves /metrics on", () => {
    const prom = parseYaml(read("deploy/prometheus/prometheus.yml")) as {
      rule_files: string[];
      scrape_configs: { job_name: string; dns_sd_configs?: { names: string[]; type: string; port: number }[] }[];
    };
    for (const [name, s] of costlineServices) {
      const job = prom.scrape_configs.find((c) => c.job_name === `costline-${name}`);
      expect(job, `a scrape job for ${name}`).toBeDefined();
      expect(job!.dns_sd_configs).toEqual([
        expect.objectContaining({ names: [name], type: "A", port: Number(s.environment?.COSTLINE_API_PORT) }),
      ]);
    }
    const scraped = prom.scrape_configs.filter((c) => c.job_name.startsWith("costline-")).map((c) => c.job_name.slice("costline-".length));
    expect(scraped.sort()).toEqual(costlineServices.map(([n]) => n).sort());
    // rule_files are relative to the config: the rules folder is mounted beside it.
    expect(prom.rule_files).toEqual(["rules/*.yml"]);
    expect(services.prometheus?.volumes).toEqual(
      expect.arrayContaining([
        "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
        "./deploy/prometheus/rules:/etc/prometheus/rules:ro",
      ]),
    );
  });

  it("third-party images are pinned to a version", () => {
    for (const [name, s] of Object.entries(services)) {
      if (s.image!.startsWith("costline:")) continue;
      expect(s.image, name).toMatch(/^[\w./-]+:v?\d+\.\d+\.\d+[\w.-]*$/);
    }
    expect(services.nats?.image).toMatch(/^nats:2\.10\.\d+-alpine$/);
    expect(services.grafana?.environment?.GF_INSTALL_PLUGINS).toMatch(/^grafana-clickhouse-datasource \d+\.\d+\.\d+$/);
  });

  it("every service has a healthcheck, and starts after what it needs is healthy", () => {
    for (const [name, s] of Object.entries(services)) {
      expect(s.healthcheck?.test?.length, `${name} has a healthcheck`).toBeGreaterThan(0);
      for (const [dep, cond] of Object.entries(s.depends_on ?? {})) {
        expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
        expect(dep).not.toBe(name);
        expect(cond.condition, `${name} → ${dep}`).toBe("service_healthy");
      }
    }
    // The API container migrates first; every stage waits for it, NATS and ClickHouse.
    for (const [name] of costlineServices.filter(([n]) => n !== "api"))
      expect(Object.keys(services[name]!.depends_on ?? {}).sort(), name).toEqual(["api", "clickhouse", "nats"]);
    expect(Object.keys(services.api!.depends_on ?? {}).sort()).toEqual(["clickhouse", "nats"]);
  });

  it("every variable compose.yaml reads is documented in deploy/env.example; the required ones are left to fill in", () => {
    const used = [...composeText.matchAll(/\$\{(\w+)(:?[-?])?/g)].map((m) => ({ name: m[1]!, required: m[2]?.endsWith("?") ?? false }));
    expect(used.length).toBeGreaterThan(5);
    for (const u of used) expect(Object.keys(exampleEnv), `${u.name} in deploy/env.example`).toContain(u.name);
    const required = [...new Set(used.filter((u) => u.required).map((u) => u.name))].sort();
    expect(required).toEqual([
      "COSTLINE_ADMIN_KEY",
      "COSTLINE_CLICKHOUSE_PASSWORD",
      "COSTLINE_METRICS_TOKEN",
      "COSTLINE_NATS_OPERATOR_PASSWORD",
      "COSTLINE_NATS_PIPELINE_PASSWORD",
      "COSTLINE_NATS_PUBLISHER_PASSWORD",
      "GRAFANA_ADMIN_PASSWORD",
      "GRAFANA_CLICKHOUSE_PASSWORD",
    ]);
    // Secrets have no example value that could end up in production.
    for (const r of required) expect(exampleEnv[r], r).toBe("");
    expect(() => interpolate(services.api!.environment!.COSTLINE_ADMIN_KEY!, {})).toThrow(/COSTLINE_ADMIN_KEY is required/);
  });

  it("each costline service's environment is a valid configuration pointing at the compose NATS and ClickHouse", () => {
    const env = {
      COSTLINE_ADMIN_KEY: "cl_0123456789ab_abcdefghijklmnopqrstuvwxyz0123456789",
      COSTLINE_CLICKHOUSE_PASSWORD: "pw-costline",
      COSTLINE_METRICS_TOKEN: "metrics-token",
      GRAFANA_CLICKHOUSE_PASSWORD: "pw-grafana",
      GRAFANA_ADMIN_PASSWORD: "pw-admin",
      COSTLINE_NATS_PIPELINE_PASSWORD: "pw-nats-pipeline",
      COSTLINE_NATS_OPERATOR_PASSWORD: "pw-nats-operator",
      COSTLINE_NATS_PUBLISHER_PASSWORD: "pw-nats-publisher",
    };
    const natsPort = services.nats!.ports!.map((p) => p.split(":").at(-1)).includes("4222");
    expect(natsPort).toBe(true);
    for (const [name, s] of costlineServices) {
      const vars = Object.fromEntries(Object.entries(s.environment!).map(([k, v]) => [k, interpolate(String(v), env)]));
      // The config file is mounted at COSTLINE_CONFIG in the container; here it is the repository's copy.
      const mount = s.volumes!.find((v) => v.split(":")[1] === vars.COSTLINE_CONFIG)!;
      expect(mount, `${name} mounts its COSTLINE_CONFIG`).toBeDefined();
      const config = loadConfig({ ...vars, COSTLINE_CONFIG: path.join(repoRoot, mount.split(":")[0]!) });
      expect(config.nats.url, name).toBe("nats://nats:4222");
      // The api applies operators' writes; every stage is the pipeline role (deploy/nats/nats.conf).
      const role = name === "api" ? "operator" : "pipeline";
      expect([config.nats.user, config.nats.password], name).toEqual([`costline-${role}`, `pw-nats-${role}`]);
      expect(config.clickhouse.url, name).toBe("http://clickhouse:8123");
      expect(config.clickhouse.user).toBe("costline");
      expect(config.clickhouse.password).toBe("pw-costline");
      expect(config.api.host, `${name} listens beyond loopback, for Prometheus`).toBe("0.0.0.0");
      expect(config.api.port).toBe(8080);
      expect(config.api.adminKey).toBe(env.COSTLINE_ADMIN_KEY);
      // The healthcheck asks the port the service listens on.
      expect(s.healthcheck!.test.join(" ")).toContain(`127.0.0.1:${config.api.port}/readyz`);
    }
    // The passwords the ClickHouse users file and the Grafana datasource read are given to those containers.
    for (const m of read("deploy/clickhouse/users.d/costline.xml").matchAll(/from_env="(\w+)"/g))
      expect(Object.keys(services.clickhouse!.environment!)).toContain(m[1]);
    for (const m of read("deploy/grafana/provisioning/datasources/datasources.yml").matchAll(/\$\{?(\w+)\}?/g))
      expect(Object.keys(services.grafana!.environment!)).toContain(m[1]);
  });

  it("Grafana loads the dashboards from where they are mounted", () => {
    const provider = parseYaml(read("deploy/grafana/provisioning/dashboards/costline.yml")) as {
      providers: { options: { path: string } }[];
    };
    const mount = services.grafana!.volumes!.find((v) => v.startsWith("./deploy/grafana/dashboards:"))!;
    const target = mount.split(":")[1]!;
    expect(provider.providers[0]!.options.path).toBe(target);
    const home = services.grafana!.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!;
    expect(path.dirname(home)).toBe(target);
    expect(existsSync(path.join(repoRoot, "deploy/grafana/dashboards", path.basename(home)))).toBe(true);
  });

  it("NATS runs JetStream from the repository's config, stored on its volume", () => {
    expect(services.nats?.command).toEqual(["--config", "/etc/nats/nats.conf"]);
    expect(services.nats?.volumes).toEqual(["./deploy/nats/nats.conf:/etc/nats/nats.conf:ro", "nats-data:/data"]);
    const conf = read("deploy/nats/nats.conf");
    expect(conf).toMatch(/jetstream\s*\{[^}]*store_dir:\s*"\/data"/);
    const bin = process.env.NATS_SERVER_BIN || "nats-server";
    // The passwords the file reads are the ones compose.yaml gives the nats service.
    const natsEnv = Object.fromEntries(Object.keys(services.nats!.environment ?? {}).map((k) => [k, `pw-${k}`]));
    const r = spawnSync(bin, ["-t", "-c", path.join(repoRoot, "deploy/nats/nats.conf")], {
      encoding: "utf8",
      env: { ...process.env, ...natsEnv },
    });
    expect(r.error, `${bin} is installed by scripts/setup.mjs`).toBeUndefined();
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    const bare = spawnSync(bin, ["-t", "-c", path.join(repoRoot, "deploy/nats/nats.conf")], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "" },
    });
    expect(bare.status, "without the passwords the configuration is refused").not.toBe(0);
  });

  it("NATS ships with authentication on: named users with the permissions of their role, nothing anonymous, loopback on the host", () => {
    const conf = read("deploy/nats/nats.conf");
    expect(conf).not.toMatch(/no_auth_user|authorization\s*\{/);
    const users = [...conf.matchAll(/\{ user: "([\w-]+)", password: \$(\w+),\s*permissions: (\{.*\}) \}/g)].map((m) => ({
      user: m[1]!,
      env: m[2]!,
      permissions: JSON.parse(m[3]!),
    }));
    expect(users.map((u) => u.user)).toEqual(["costline-pipeline", "costline-operator", "costline-publisher"]);
    expect(users.map((u) => u.permissions)).toEqual([
      pipelinePermissions("costline", "costline-pipeline"),
      operatorPermissions("costline", "costline-operator"),
      publisherPermissions("costline", "costline-publisher"),
    ]);
    for (const u of users) expect(Object.keys(services.nats!.environment!)).toContain(u.env);
    expect(services.nats!.ports!.filter((p) => p.endsWith(":4222"))).toEqual(["127.0.0.1:4222:4222"]);
  });
});

describe("Dockerfile", () => {
  const dockerfile = read("Dockerfile");

  it("builds on a pinned Node 20 slim image, without chdb, and runs as a non-root user", () => {
    const bases = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(bases.length).toBeGreaterThan(0);
    for (const b of bases) expect(b).toMatch(/^node:20\.\d+\.\d+-[a-z]+-slim$/);
    expect(dockerfile).toMatch(/npm pkg delete optionalDependencies\.chdb/);
    expect(dockerfile).toMatch(/npm install --omit=dev/);
    expect(dockerfile).toMatch(/test ! -e node_modules\/chdb/);
    const users = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
    expect(users.at(-1)).toBeDefined();
    expect(users.at(-1)).not.toMatch(/^(root|0)$/);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "bin\/costline\.mjs"\]$/m);
  });

  it("copies only what exists, and .dockerignore keeps local state out", () => {
    for (const m of dockerfile.matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm))
      for (const src of m[1]!.trim().split(/\s+/)) expect(existsSync(path.join(repoRoot, src)), `COPY ${src}`).toBe(true);
    const ignored = read(".dockerignore")
      .split("\n")
      .map((l) => l.trim());
    for (const p of ["node_modules", ".costline", ".git", ".env"]) expect(ignored).toContain(p);
    // What the image needs is not ignored.
    for (const p of ["bin", "pipeline", "schemas", "clickhouse", "package.json", "package-lock.json"]) expect(ignored).not.toContain(p);
  });
});
