// The package as a user gets it: `npm pack`, installed into a scratch project
// without optional dependencies (so without chdb), then imported from plain
// Node — no tsx, no TypeScript — to publish an event to a real nats-server and
// run a guard check; its type declarations must compile a TypeScript user.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { loadConfig } from "../../pipeline/config/config.ts";
import { connectNats } from "../../pipeline/nats/connect.ts";
import { startEmbeddedNats, type EmbeddedNats } from "../../pipeline/nats/embedded-server.ts";
import { applyTopology } from "../../pipeline/nats/topology.ts";
import { putControl } from "../../pipeline/guard/guard.ts";
import { repoRoot, tempHome } from "../helpers/stack-process.ts";

const run = promisify(execFile);
const home = tempHome("costline-pack-");
const scratch = mkdtempSync(path.join(os.tmpdir(), "costline-user-"));
let server: EmbeddedNats;
let nc: NatsConnection;

beforeAll(async () => {
  const config = loadConfig({ COSTLINE_HOME: home });
  server = await startEmbeddedNats({ bin: "nats-server", storeDir: path.join(home, "nats"), logFile: path.join(home, "nats.log") });
  nc = await connectNats({ ...config.nats, url: server.url }, "test");
  await applyTopology(nc, await jetstreamManager(nc), config);
  const kv = await new Kvm(nc).open("costline-controls");
  await putControl(kv, {
    scope: { tenant: "acme" },
    state: "degraded",
    model_map: { "gpt-4o": "gpt-4o-mini" },
    probe_every_s: 30,
    reason: "package test",
    set_by: "test",
    set_at: new Date().toISOString(),
  });
}, 300_000);
afterAll(async () => {
  await nc?.close();
  await server?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe("the npm package", () => {
  let tarball: string;

  it("packs dist/ with declarations and no TypeScript sources", async () => {
    const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", home], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
    const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    tarball = path.join(home, info!.filename);
    const files = info!.files.map((f) => f.path);
    expect(files).toContain("dist/pipeline/producer/producer.js");
    // The CLI as one bundle per command (bin/costline.mjs runs it), its source maps left out.
    expect(files).toContain("dist/cli/main.js");
    expect(files.filter((f) => f.startsWith("dist/cli/") && f.endsWith(".map"))).toEqual([]);
    expect(files).toContain("dist/pipeline/guard/guard.d.ts");
    expect(files).toContain("dist/schemas/index.d.ts");
    expect(files).toContain("clickhouse/migrations/0001_ledger.sql");
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
  }, 300_000);

  it("installs without optional dependencies and runs from plain Node: publish, then a guard check", async () => {
    writeFileSync(
      path.join(scratch, "package.json"),
      JSON.stringify({ name: "user-app", version: "1.0.0", private: true, type: "module" }),
    );
    // From npm's cache (the project's own install filled it): fast, and no network when it is warm.
    await run(
      "npm",
      ["install", tarball, "--omit=optional", "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"],
      {
        cwd: scratch,
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    expect(existsSync(path.join(scratch, "node_modules", "costline", "dist"))).toBe(true);
    expect(existsSync(path.join(scratch, "node_modules", "chdb"))).toBe(false);
    expect(existsSync(path.join(scratch, "node_modules", "tsx"))).toBe(false);
    // Stack-only modules out of reach: importing the SDK must not need them.
    for (const stackOnly of ["@clickhouse", "hono", "@hono", "nodemailer", "prom-client"])
      rmSync(path.join(scratch, "node_modules", stackOnly), { recursive: true, force: true });
    writeFileSync(
      path.join(scratch, "app.mjs"),
      `import { createProducer } from "costline/producer";
import { createGuard } from "costline/guard";
import { costlineEvent } from "costline/schemas";
const event = { specversion: "1.0", id: "pkg-1", source: "user-app", type: "costline.llm.usage", time: new Date().toISOString(),
  data: { tenant: "acme", provider: "openai", model: "gpt-4o", usage: { input_tokens: 10, output_tokens: 5 } } };
if (!costlineEvent.safeParse(event).success) throw new Error("schema rejected a valid event");
const producer = await createProducer({ servers: process.argv[2] });
const [ack] = await producer.publish(event);
await producer.close();
const guard = await createGuard({ servers: process.argv[2] });
await guard.ready;
const d = guard.check({ tenant: "acme", model: "gpt-4o" });
await guard.close();
console.log(JSON.stringify({ stream: ack.stream, seq: ack.seq, allow: d.allow, model: d.model, state: d.state }));
`,
    );
    const { stdout } = await run(process.execPath, ["app.mjs", server.url], {
      cwd: scratch,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
    });
    const out = JSON.parse(stdout) as { stream: string; seq: number; allow: boolean; model: string; state: string };
    expect(out).toMatchObject({ stream: "COSTLINE_EVENTS", allow: true, model: "gpt-4o-mini", state: "degraded" });
    const stored = await (await jetstreamManager(nc)).streams.getMessage("COSTLINE_EVENTS", { seq: out.seq });
    expect(JSON.parse(stored!.string()).id).toBe("pkg-1");
    // The installed command runs the compiled CLI, and `price` needs none of the stack's modules removed above.
    const price = await run(
      path.join(scratch, "node_modules", ".bin", "costline"),
      ["price", "--provider", "openai", "--model", "gpt-4o", "--input-tokens", "1000", "--output-tokens", "500"],
      {
        cwd: scratch,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", COSTLINE_HOME: path.join(scratch, ".costline") },
      },
    );
    expect(JSON.parse(price.stdout)).toMatchObject({ cost_usd: "0.0075", priced: true });
  }, 300_000);

  it("gives a TypeScript user the declarations", async () => {
    writeFileSync(
      path.join(scratch, "typed.ts"),
      `import { createProducer, type Producer } from "costline/producer";
import { createGuard, type Guard } from "costline/guard";
import type { CostlineEventInput } from "costline/schemas";
const e: CostlineEventInput = { specversion: "1.0", id: "x", source: "s", type: "costline.llm.usage", data: { tenant: "t", provider: "openai", model: "gpt-4o", usage: {} } };
export async function f(): Promise<[Producer, Guard, CostlineEventInput]> { return [await createProducer({}), await createGuard({}), e]; }
// @ts-expect-error a wrong event type is a compile error
export const bad: CostlineEventInput = { ...e, type: "nope" };
`,
    );
    const tsc = path.join(repoRoot, "node_modules", "typescript", "bin", "tsc");
    const r = await run(
      process.execPath,
      [
        tsc,
        "--noEmit",
        "--strict",
        "--skipLibCheck",
        "--module",
        "nodenext",
        "--moduleResolution",
        "nodenext",
        "--target",
        "es2022",
        "typed.ts",
      ],
      { cwd: scratch },
    ).catch((e: { stdout: string }) => e);
    expect((r as { stdout: string }).stdout).toBe("");
  }, 300_000);
});
