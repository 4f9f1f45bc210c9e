// The embedded server's users under $COSTLINE_HOME/nats-auth: created once and
// reused, private files, producers stored as bcrypt hashes only, and a
// configuration nats-server itself accepts.
import { spawnSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import bcrypt from "bcryptjs";
import {
  addProducer,
  BCRYPT_COST,
  ensureNatsAuth,
  natsAuthPaths,
  readNatsCredentials,
  removeProducer,
} from "../../pipeline/nats/credentials.ts";
import { producerPermissions } from "../../pipeline/nats/roles.ts";
import { tempHome } from "../helpers/stack-process.ts";

describe("NATS credentials of the embedded server", () => {
  it("are created once, kept private, reused, and rendered into a configuration nats-server accepts", async () => {
    const home = tempHome("costline-nats-creds-");
    const first = await ensureNatsAuth(home, "costline");
    const again = await ensureNatsAuth(home, "costline");
    expect(again.file.pipeline.password).toBe(first.file.pipeline.password);
    expect(again.file.operator.password).not.toBe(first.file.pipeline.password);
    const paths = natsAuthPaths(home);
    expect(statSync(paths.dir).mode & 0o777).toBe(0o700);
    expect(statSync(paths.credentials).mode & 0o777).toBe(0o600);
    expect(statSync(paths.serverConfig).mode & 0o777).toBe(0o600);

    const { user, password } = await addProducer(home, "costline", "acme corp");
    expect(user).toMatch(/^producer-acme~20corp-[0-9a-f]{8}$/);
    const stored = readNatsCredentials(home)!.producers[user]!;
    expect(stored.tenant).toBe("acme corp");
    expect(bcrypt.compareSync(password, stored.hash)).toBe(true);
    const conf = readFileSync(paths.serverConfig, "utf8");
    expect(conf).not.toContain(password);
    expect(conf).not.toContain(first.file.pipeline.password);
    expect(conf).toContain(JSON.stringify(producerPermissions("costline", "acme corp", user)));
    const r = spawnSync(process.env.NATS_SERVER_BIN || "nats-server", ["-t", "-c", paths.serverConfig], { encoding: "utf8" });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);

    expect(await removeProducer(home, "costline", user)).toBe(true);
    expect(await removeProducer(home, "costline", user)).toBe(false);
    expect(readFileSync(paths.serverConfig, "utf8")).not.toContain(user);
  });

  it("re-hash an older home's role passwords at today's cost, keeping the passwords and the producers' hashes", async () => {
    const home = tempHome("costline-nats-creds-");
    const first = await ensureNatsAuth(home, "costline");
    const { user } = await addProducer(home, "costline", "acme");
    // A home written by a version that hashed at cost 11 (what `nats server passwd` uses).
    const paths = natsAuthPaths(home);
    const old = JSON.parse(readFileSync(paths.credentials, "utf8"));
    const slowPipeline = bcrypt.hashSync(first.file.pipeline.password, 11);
    const slowProducer = bcrypt.hashSync("a producer password we no longer know", 11);
    old.pipeline.hash = slowPipeline;
    old.producers[user].hash = slowProducer;
    writeFileSync(paths.credentials, JSON.stringify(old));

    const again = await ensureNatsAuth(home, "costline");
    expect(again.file.pipeline.password).toBe(first.file.pipeline.password);
    expect(bcrypt.getRounds(again.file.pipeline.hash)).toBe(BCRYPT_COST);
    expect(bcrypt.compareSync(first.file.pipeline.password, again.file.pipeline.hash)).toBe(true);
    expect(again.file.operator.hash).toBe(first.file.operator.hash); // already at today's cost: untouched
    expect(again.file.producers[user]!.hash).toBe(slowProducer); // its password is not kept, so its hash stays
    const conf = readFileSync(paths.serverConfig, "utf8");
    expect(conf).toContain(again.file.pipeline.hash);
    expect(conf).not.toContain(slowPipeline);
  });
});
