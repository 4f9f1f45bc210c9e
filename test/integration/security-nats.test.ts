// NATS authentication from configuration (user/password, token, user nkey,
// JWT creds) against real nats-servers that demand it; `costline up` on such
// a server end to end; and secrets (NATS password, admin key, webhook URL and
// signing secret) absent from $COSTLINE_HOME, from what any command prints,
// and from the API's error bodies, after failures are driven on purpose.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { nkeys } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadConfig } from "../../pipeline/config/config.ts";
import { connectNats, natsAuthFromEnv } from "../../pipeline/nats/connect.ts";
import { Kvm } from "@nats-io/kv";
import { kvBuckets } from "../../pipeline/nats/subjects.ts";
import { createProducer } from "../../pipeline/producer/producer.ts";
import { createGuard, putControl } from "../../pipeline/guard/guard.ts";
import { freePort } from "../../pipeline/nats/embedded-server.ts";
import { ConfigError } from "../../pipeline/errors.ts";
import { startAuthServer, secret, type AuthMethod, type AuthServer } from "../helpers/nats-auth.ts";
import { runCli, startUp, type CliResult, type UpProcess } from "../helpers/cli-process.ts";
import { secretsIn, secretsInTree } from "../helpers/secret-scan.ts";
import { tempHome, waitFor } from "../helpers/stack-process.ts";

const methods: AuthMethod[] = ["user", "token", "nkey", "creds"];
const servers = new Map<AuthMethod, AuthServer>();
const root = tempHome("costline-sec-nats-");

beforeAll(async () => {
  await Promise.all(methods.map(async (m) => servers.set(m, await startAuthServer(path.join(root, m), m))));
});
afterAll(async () => {
  await Promise.all([...servers.values()].map((s) => s.stop()));
});

async function connectWith(url: string, env: Record<string, string>) {
  const cfg = loadConfig({ NATS_URL: url, COSTLINE_HOME: root, ...env });
  return connectNats({ ...cfg.nats, url }, "security-test");
}

/** The error a connection attempt ends with (the test fails if it connects). */
async function refusal(url: string, env: Record<string, string>): Promise<Error> {
  const err = await connectWith(url, env).then(
    async (nc) => {
      await nc.close();
      return undefined;
    },
    (e: Error) => e,
  );
  expect(err, "the connection should have been refused").toBeInstanceOf(Error);
  return err!;
}

describe("NATS authentication from configuration", () => {
  it.each(methods)(
    "%s: the right secret connects and reaches JetStream; a wrong or missing one is refused, naming the method, not the secret",
    async (m) => {
      const s = servers.get(m)!;
      const nc = await connectWith(s.url, s.env);
      const jsm = await jetstreamManager(nc);
      expect((await jsm.getAccountInfo()).limits).toBeDefined();
      await nc.close();

      const everySecret = [...s.secrets, ...Object.values(s.wrongEnv).filter((v) => !v.includes("/"))];
      for (const env of [s.wrongEnv, {}]) {
        const err = await refusal(s.url, env);
        expect(err).toBeInstanceOf(ConfigError);
        expect(err.message).toMatch(/refused the connection \(Authorization Violation\); credentials presented: /);
        expect(err.message).toContain(s.url);
        expect(secretsIn("the error", `${err.message} ${err.stack}`, everySecret)).toEqual([]);
      }
    },
  );

  it("takes a token or user:password from NATS_URL, and keeps them out of the error", async () => {
    const token = servers.get("token")!;
    const withToken = (t: string) => token.url.replace("nats://", `nats://${t}@`);
    const nc = await connectWith(withToken(token.secrets[0]!), {});
    await nc.close();
    const wrong = secret("urltoken");
    const err = await refusal(withToken(wrong), {});
    expect(err.message).toMatch(/credentials presented: token in NATS_URL/);
    expect(err.message).toContain(token.url);
    expect(err.message).not.toContain(wrong);
    const user = servers.get("user")!;
    const pwErr = await refusal(user.url.replace("nats://", `nats://costline:${wrong}@`), {});
    expect(pwErr.message).toMatch(/credentials presented: user and password in NATS_URL/);
    expect(pwErr.message).not.toContain(wrong);
  });

  it("presenting another method's credentials is refused too", async () => {
    const user = servers.get("user")!;
    const token = servers.get("token")!;
    await expect(connectWith(user.url, token.env)).rejects.toThrow(ConfigError);
    await expect(connectWith(token.url, servers.get("nkey")!.env)).rejects.toThrow(/credentials presented: nkey NATS_NKEY_SEED/);
  });

  it("reads the nkey seed from NATS_NKEY_SEED_FILE; a broken or non-user seed or a missing file is named, never printed", async () => {
    const s = servers.get("nkey")!;
    const file = path.join(root, "user.nk");
    writeFileSync(file, `${s.env.NATS_NKEY_SEED}\n`, { mode: 0o600 });
    const nc = await connectWith(s.url, { NATS_NKEY_SEED_FILE: file });
    await nc.close();

    const broken = `SU${"A".repeat(30)}-broken-${randomBytes(4).toString("hex")}`;
    const account = new TextDecoder().decode(nkeys.createAccount().getSeed());
    for (const bad of [broken, account]) {
      const err = await refusal(s.url, { NATS_NKEY_SEED: bad });
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toMatch(/^NATS_NKEY_SEED is not a user nkey seed/);
      expect(err.message).not.toContain(bad);
    }
    const missing = await refusal(s.url, { NATS_NKEY_SEED_FILE: path.join(root, "missing.nk") });
    expect(missing.message).toMatch(/^cannot read NATS_NKEY_SEED_FILE .*missing\.nk/);
  });

  it("refuses credentials that cannot work together, by name only", () => {
    const pw = secret("lonelypw");
    const seed = servers.get("nkey")!.env.NATS_NKEY_SEED!;
    const cases: [Record<string, string>, RegExp][] = [
      [{ NATS_PASSWORD: pw }, /NATS_PASSWORD is set without NATS_USER/],
      [{ NATS_NKEY_SEED: seed, NATS_NKEY_SEED_FILE: "/x" }, /NATS_NKEY_SEED or NATS_NKEY_SEED_FILE, not both/],
      [{ NATS_NKEY_SEED: seed, NATS_CREDS: "/x.creds" }, /NATS_CREDS carries its own nkey/],
    ];
    for (const [env, why] of cases) {
      let err: unknown;
      try {
        loadConfig(env);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(why);
      expect(secretsIn("the error", (err as Error).message, [pw, seed])).toEqual([]);
    }
  });
});

describe("the SDK and the guard take NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS", () => {
  it.each(["user", "token", "creds"] as const)(
    "%s: the producer publishes and the guard replays controls; without credentials both are refused",
    async (m) => {
      const s = servers.get(m)!;
      const admin = await connectWith(s.url, s.env);
      const jsm = await jetstreamManager(admin);
      await jsm.streams.add({ name: "COSTLINE_EVENTS", subjects: ["costline.events.>"] }).catch(() => undefined);
      const controls = await new Kvm(admin).create(kvBuckets.controls, { history: 5 });
      await putControl(controls, {
        scope: { tenant: "sdk-auth" },
        state: "open",
        reason: "auth test",
        probe_every_s: 30,
        set_by: "test",
        set_at: new Date().toISOString(),
      });

      const auth = natsAuthFromEnv(s.env);
      const producer = await createProducer({ servers: s.url, auth });
      const [ack] = await producer.publish({
        specversion: "1.0",
        id: `sdk-${m}`,
        source: "test/sdk-auth",
        type: "costline.cost",
        time: new Date().toISOString(),
        data: { tenant: "sdk-auth", amount: "1", currency: "USD", category: "gpu" },
      });
      expect(ack!.stream).toBe("COSTLINE_EVENTS");
      await producer.close();
      const guard = await createGuard({ servers: s.url, auth });
      await guard.ready;
      expect(guard.check({ tenant: "sdk-auth", model: "gpt-4o" }).allow).toBe(false);
      await guard.close();
      await admin.close();

      await expect(createProducer({ servers: s.url, auth: {}, connectOptions: { reconnect: false } })).rejects.toThrow(
        /Authorization Violation/,
      );
      await expect(createGuard({ servers: s.url, auth: {} })).rejects.toThrow(/Authorization Violation/);
    },
  );
});

describe("costline up on a NATS that demands a password, and secrets kept out of sight", () => {
  let nats: AuthServer;
  let home: string;
  let up: UpProcess;
  let env: Record<string, string>;
  const adminKey = `cl_${randomBytes(6).toString("hex")}_${randomBytes(24).toString("base64url")}`;
  const hookToken = secret("hooktoken");
  const hookSecret = secret("hooksigning");
  const wrongPw = secret("typoedpw");
  const outputs: { where: string; text: string }[] = [];
  const homes: string[] = [];
  let secrets: string[];
  const record = (where: string, r: CliResult) =>
    outputs.push({ where: `${where} stdout`, text: r.stdout }, { where: `${where} stderr`, text: r.stderr });

  beforeAll(async () => {
    nats = servers.get("user")!;
    home = tempHome("costline-sec-up-");
    homes.push(home);
    const closedPort = await freePort(); // nobody listens: every webhook delivery fails
    // The stack gets its password inside NATS_URL, the CLI below through NATS_USER / NATS_PASSWORD: both ways work.
    env = {
      COSTLINE_HOME: home,
      NATS_URL: nats.url.replace("nats://", `nats://costline:${nats.secrets[0]}@`),
      COSTLINE_ADMIN_KEY: adminKey,
      COSTLINE_WEBHOOK_URL: `http://127.0.0.1:${closedPort}/hooks/${hookToken}`,
      COSTLINE_WEBHOOK_SECRET: hookSecret,
      COSTLINE_LOG_LEVEL: "debug",
    };
    secrets = [...nats.secrets, adminKey, adminKey.slice(16), hookToken, hookSecret, wrongPw];
    up = await startUp(env);
  });
  afterAll(async () => {
    if (up?.child.exitCode === null) await up.stop();
  });

  it("publishing with the credentials puts the event in the ledger", async () => {
    const dir = path.join(root, "events");
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, "events.ndjson");
    const event = (id: string, model: string) =>
      JSON.stringify({
        specversion: "1.0",
        id,
        source: "test/security-nats",
        type: "costline.llm.usage",
        time: new Date().toISOString(),
        data: { tenant: "sec-nats", provider: "openai", model, usage: { input_tokens: 100, output_tokens: 10 } },
      });
    // The second one's model has no price: it raises an alert, which the notifier fails to deliver.
    writeFileSync(file, `${event("n-1", "gpt-4o-mini")}\n${event("n-2", "no-such-model-for-sure")}\n`);
    const pub = await runCli(["publish", "--file", file], { COSTLINE_HOME: home, NATS_URL: nats.url, ...nats.env });
    record("publish", pub);
    expect(pub).toMatchObject({ code: 0 });
    expect(JSON.parse(pub.stdout)).toEqual({ published: 2, rejected: 0 });
    const totals = await waitFor("the events in the ledger", async () => {
      const res = await fetch(`${up.info.api_url}/v1/totals?tenant=sec-nats`, { headers: { authorization: `Bearer ${adminKey}` } });
      const body = (await res.json()) as { events: number; unpriced_events: number };
      return body.events === 2 ? body : undefined;
    });
    expect(totals.unpriced_events).toBe(1);
    // What `costline up` wrote for other commands names the server, not the password.
    const stackJson = readFileSync(path.join(home, "stack.json"), "utf8");
    outputs.push({ where: "stack.json", text: stackJson });
    expect(JSON.parse(stackJson).nats_url).toBe(nats.url);
    expect(up.output()).toContain(`NATS        ${nats.url}`);
    const viaCli = await runCli(["totals", "--tenant", "sec-nats"], { COSTLINE_HOME: home, COSTLINE_API_KEY: adminKey });
    record("totals", viaCli);
    expect(JSON.parse(viaCli.stdout)).toMatchObject({ events: 2 });
  });

  it("fails clearly, without the secret, on bad API keys, a wrong NATS password, and invalid configuration", async () => {
    // Bad API keys: each answer is collected for the final search.
    for (const authorization of [
      // The last character changed to one it is not (a key ending in "x" stayed valid with a fixed "x").
      `Bearer ${adminKey.slice(0, -1)}${adminKey.endsWith("x") ? "y" : "x"}`,
      `Bearer ${nats.secrets[0]}`,
      `Basic ${Buffer.from(`admin:${adminKey}`).toString("base64")}`,
    ]) {
      const res = await fetch(`${up.info.api_url}/v1/totals`, { headers: { authorization } });
      expect(res.status).toBe(401);
      outputs.push({ where: `API 401 for ${authorization.slice(0, 12)}`, text: await res.text() });
    }
    const sqlRefused = await fetch(`${up.info.api_url}/v1/sql`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminKey}` },
      body: JSON.stringify({ query: `SELECT '${hookToken}' INTO OUTFILE 'x'` }),
    });
    expect(sqlRefused.status).toBe(400);
    outputs.push({ where: "API 400 /v1/sql", text: (await sqlRefused.text()).replaceAll(hookToken, "") }); // the caller's own query aside

    const file = path.join(root, "events", "events.ndjson");
    const wrong = await runCli(["publish", "--file", file], {
      COSTLINE_HOME: home,
      NATS_URL: nats.url,
      NATS_USER: "costline",
      NATS_PASSWORD: wrongPw,
    });
    record("publish, wrong password", wrong);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      /NATS at nats:\/\/127\.0\.0\.1:\d+ refused the connection \(Authorization Violation\); credentials presented: user NATS_USER/,
    );

    const inUrl = await runCli(["publish", "--file", file], {
      COSTLINE_HOME: home,
      NATS_URL: nats.url.replace("nats://", `nats://costline:${wrongPw}@`),
    });
    record("publish, password in the URL", inUrl);
    expect(inUrl.code).toBe(1);
    expect(inUrl.stderr).toMatch(/refused the connection/);

    const badPort = await runCli(["totals"], { ...env, COSTLINE_API_PORT: "not-a-port" });
    record("totals, invalid config", badPort);
    expect(badPort).toMatchObject({ code: 1 });
    expect(badPort.stderr).toMatch(/invalid configuration: COSTLINE_API_PORT/);

    const badUrl = await runCli(["totals"], { ...env, COSTLINE_WEBHOOK_URL: `not a url ${hookToken}` });
    record("totals, invalid webhook URL", badUrl);
    expect(badUrl.code).toBe(1);
    expect(badUrl.stderr).toMatch(/COSTLINE_WEBHOOK_URL/);

    const notJson = path.join(root, "costline.env");
    writeFileSync(notJson, `COSTLINE_WEBHOOK_URL=${env.COSTLINE_WEBHOOK_URL}\nNATS_PASSWORD=${nats.secrets[0]}\n`);
    const badFile = await runCli(["totals"], { ...env, COSTLINE_CONFIG: notJson });
    record("totals, config file not JSON", badFile);
    expect(badFile.code).toBe(1);
    expect(badFile.stderr).toMatch(/cannot read COSTLINE_CONFIG .*costline\.env: .*not valid JSON/);

    const badKey = await runCli(["sql", "SELECT 1"], {
      COSTLINE_HOME: home,
      COSTLINE_API_KEY: `${adminKey.slice(0, -1)}${adminKey.endsWith("x") ? "y" : "x"}`,
    });
    record("sql, wrong API key", badKey);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/the API refused the key/);

    // A second stack on its own home with a typo in the password stops at once, saying why.
    const home2 = tempHome("costline-sec-up2-");
    homes.push(home2);
    const failedUp = await runCli(["up"], {
      ...env,
      COSTLINE_HOME: home2,
      NATS_URL: nats.url.replace("nats://", `nats://costline:${wrongPw}@`),
      COSTLINE_API_PORT: "0",
    });
    record("up, wrong password", failedUp);
    expect(failedUp.code).toBe(1);
    expect(failedUp.stderr).toMatch(new RegExp(`NATS at ${nats.url} refused the connection`));
  });

  it("no secret in $COSTLINE_HOME (logs, stack.json, data), in any command's output, or in any API answer", async () => {
    // The notifier tried the webhook and logged the failure by host only.
    await waitFor(
      "a failed webhook delivery in the log",
      async () => {
        const log = readFileSync(path.join(home, "logs", "costline.log"), "utf8");
        return /delivery attempt failed/.test(log) ? true : undefined;
      },
      30_000,
    );
    expect(await up.stop()).toBe(0);
    outputs.push({ where: "costline up output", text: up.output() });
    expect(up.output()).toMatch(/costline is up/);
    // Nor any runtime warning: one stop signal shared by every partition loop once printed Node's
    // MaxListenersExceededWarning on every start.
    expect(up.output()).not.toMatch(/Warning/);

    const found: string[] = [];
    let files = 0;
    for (const h of homes) {
      const r = secretsInTree(h, secrets);
      files += r.files;
      found.push(...r.found);
    }
    for (const o of outputs) found.push(...secretsIn(o.where, o.text, secrets));
    expect(found).toEqual([]);
    // The search does find a secret where one is: the server's own configuration.
    expect(secretsInTree(nats.dir, secrets).found.length).toBeGreaterThan(0);
    expect(files).toBeGreaterThan(20); // logs, stack files and the embedded ClickHouse data were all searched
    expect(outputs.length).toBeGreaterThan(15);
  });
});
