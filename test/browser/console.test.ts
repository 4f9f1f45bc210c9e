/// <reference lib="dom" />
// The web console in a real browser (Debian's Chromium driven by
// playwright-core) against a real `costline up --demo`: sign in with a tenant
// key and see the overview's totals equal `costline totals`, filter the
// explorer, open a post and check its total against its audit trail; as an
// admin, silence an alert, set a budget, and pause a persona and watch the
// demo's traffic for it stop. Every page is screenshotted at 1280×800 and
// 390×844 under test-output/screenshots and checked for horizontal overflow
// and console errors (a CSP violation is one). Hostile persona and model
// names must render as text, never run.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Decimal } from "decimal.js";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, registeredConsoleRoutes } from "../helpers/api-routes.ts";
import { runCli } from "../helpers/cli-process.ts";
import { repoRoot, startStack, tempHome, waitFor, type StackProcess } from "../helpers/stack-process.ts";
import { findChromium } from "./chromium.ts";

const browserBin = findChromium();
const shots = path.join(repoRoot, "test-output", "screenshots");
const T = "console-t";
const HOSTILE_PERSONA = `<script>window.__pwned=1</script>persona`;
const HOSTILE_MODEL = `<img src=x onerror="window.__pwned=2">`;
const HOSTILE_TENANT = `"><svg onload="window.__pwned=3">`;
const viewports = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
] as const;

let stack: StackProcess;
let browser: Browser;
let tenantKey: string;
const published = { events: 0 };

function event(id: string, tenant: string, data: Record<string, unknown>, type = "costline.llm.usage") {
  return {
    specversion: "1.0",
    id,
    source: "test/console",
    type,
    time: new Date(Date.now() - 60_000).toISOString(),
    data: { tenant, ...data },
  };
}

const env = () => ({ COSTLINE_HOME: stack.home });

async function publish(events: object[]): Promise<void> {
  const file = path.join(stack.home, `events-${Date.now()}.ndjson`);
  writeFileSync(file, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
  const r = await runCli(["publish", "--file", file], env());
  expect(r.code, r.stderr).toBe(0);
  published.events += events.length;
}

async function admin<T>(method: string, p: string, body?: unknown): Promise<T> {
  const r = await call(stack.info.api_url, method, p, { key: stack.adminKey, body });
  if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${r.text}`);
  return JSON.parse(r.text) as T;
}

async function signIn(context: BrowserContext, key: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${stack.info.api_url}/`);
  await page.waitForURL(/\/login/);
  await page.fill('input[name="key"]', key);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/login")), page.click('button[type="submit"]')]);
  return page;
}

/** An admin picks a tenant in the header (the select submits itself); resolves once the page shows it. */
async function switchTenant(page: Page, tenant: string): Promise<void> {
  // The POST answers 303 back to the page, which then loads afresh.
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.selectOption('header select[name="tenant"]', tenant)]);
  expect(await page.locator('header select[name="tenant"]').inputValue()).toBe(tenant);
}

async function newContext(viewport: { width: number; height: number } = viewports[0]): Promise<BrowserContext> {
  return browser.newContext({ viewport, acceptDownloads: true });
}

/** Watches a page for console errors, uncaught errors and any dialog (a hostile string that ran). */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("dialog", (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  return problems;
}

const usd = (page: Page, selector: string) => page.locator(selector).first().getAttribute("data-usd");

describe.skipIf(!browserBin)(
  `the console in Chromium${browserBin ? "" : " (skipped: no Chromium; scripts/setup.mjs installs it for npm test, or set CHROMIUM_BIN)"}`,
  () => {
    beforeAll(async () => {
      mkdirSync(shots, { recursive: true });
      stack = await startStack(tempHome("costline-console-"), { COSTLINE_DEMO_RATE: "40" }, ["--demo"]);
      tenantKey = (await admin<{ key: string }>("POST", "/v1/admin/keys", { tenant: T, name: "console test" })).key;
      await publish([
        event("c-1", T, {
          provider: "openai",
          model: "gpt-4o-mini",
          post_id: "p-1",
          persona_id: "persona-a",
          user_id: "u-1",
          feature: "hooks",
          usage: { input_tokens: 1200, output_tokens: 300 },
        }),
        event("c-2", T, {
          provider: "openai",
          model: "gpt-4o",
          post_id: "p-1",
          persona_id: "persona-a",
          user_id: "u-2",
          feature: "hooks",
          usage: { input_tokens: 5000, output_tokens: 900 },
        }),
        event("c-3", T, {
          provider: "anthropic",
          model: "claude-3-5-haiku-latest",
          post_id: "p-2",
          persona_id: HOSTILE_PERSONA,
          user_id: "u-1",
          feature: "replies",
          usage: { input_tokens: 800, output_tokens: 200 },
        }),
        event("c-4", T, {
          provider: "acme-ai",
          model: HOSTILE_MODEL,
          post_id: "p-1",
          persona_id: "persona-a",
          feature: "hooks",
          usage: { input_tokens: 10, output_tokens: 10 },
        }),
        event("c-5", T, { amount: "0.250000", currency: "USD", category: "gpu", post_id: "p-1" }, "costline.cost"),
        event("c-6", HOSTILE_TENANT, {
          provider: "openai",
          model: "gpt-4o-mini",
          post_id: "p-9",
          usage: { input_tokens: 100, output_tokens: 10 },
        }),
      ]);
      await waitFor(
        "the test tenant's events in the ledger",
        async () => {
          const t = await stack.api<{ events: number }>(`/v1/totals?tenant=${T}`);
          return t.events === 5 ? t : undefined;
        },
        90_000,
      );
      browser = await chromium.launch({
        executablePath: browserBin!,
        headless: true,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
        ],
      });
    }, 180_000);
    afterAll(async () => {
      await browser?.close();
      await stack?.stop();
    });

    it("answers every console page without a session by sending the browser to sign in, and refuses writes", async () => {
      for (const r of registeredConsoleRoutes()) {
        if (["/login", "/assets/:name", "/favicon.ico"].includes(r.path)) continue;
        const p = r.path.replace(":name", "x");
        const res = await fetch(`${stack.info.api_url}${p}`, {
          method: r.method,
          redirect: "manual",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: r.method === "POST" ? "_csrf=x" : undefined,
        });
        if (r.method === "GET") {
          expect({ route: r.path, status: res.status }).toEqual({ route: r.path, status: 303 });
          expect(res.headers.get("location")).toMatch(/^\/login\?next=/);
        } else expect({ route: r.path, status: res.status }).toEqual({ route: r.path, status: 401 });
      }
      // A bearer key is not a console session, and a session cookie is not a bearer key.
      const withBearer = await fetch(`${stack.info.api_url}/`, {
        redirect: "manual",
        headers: { authorization: `Bearer ${stack.adminKey}` },
      });
      expect(withBearer.status).toBe(303);
      const signIn = await fetch(`${stack.info.api_url}/login`, {
        method: "POST",
        redirect: "manual",
        body: new URLSearchParams({ key: tenantKey, next: "//evil.example/" }),
      });
      expect(signIn.status).toBe(303);
      expect(signIn.headers.get("location")).toBe("/");
      const cookie = signIn.headers.get("set-cookie")!;
      expect(cookie).toMatch(/HttpOnly/i);
      expect(cookie).toMatch(/SameSite=Strict/i);
      const session = cookie.split(";")[0]!;
      expect((await fetch(`${stack.info.api_url}/v1/totals`, { headers: { cookie: session } })).status).toBe(401);
      // A write without the session's CSRF token, or from another origin, is refused.
      const noToken = await fetch(`${stack.info.api_url}/logout`, {
        method: "POST",
        redirect: "manual",
        headers: { cookie: session, "content-type": "application/x-www-form-urlencoded" },
        body: "_csrf=forged",
      });
      expect(noToken.status).toBe(403);
      const crossSite = await fetch(`${stack.info.api_url}/login`, {
        method: "POST",
        redirect: "manual",
        headers: { origin: "https://evil.example" },
        body: new URLSearchParams({ key: tenantKey }),
      });
      expect(crossSite.status).toBe(403);
      const wrong = await fetch(`${stack.info.api_url}/login`, {
        method: "POST",
        redirect: "manual",
        body: new URLSearchParams({ key: `${tenantKey.slice(0, -4)}abcd` }),
      });
      expect(wrong.status).toBe(401);
    });

    it("signs in with a tenant key: the overview's totals equal `costline totals`, and only that tenant shows", async () => {
      const context = await newContext();
      const page = await signIn(context, tenantKey);
      const problems = watch(page);
      const cookies = await context.cookies();
      expect(cookies.find((c) => c.name === "costline_session")).toMatchObject({ httpOnly: true, sameSite: "Strict" });
      const cli = await runCli(["totals", "--tenant", T], env());
      expect(cli.code, cli.stderr).toBe(0);
      const totals = JSON.parse(cli.stdout) as { events: number; cost_usd: string; unpriced_events: number };
      expect(totals.events).toBe(5);
      // The page paints before its ledger panels; the totals panel loads itself right after.
      await page.locator('#overview-totals [data-figure="total"]').waitFor();
      expect(new Decimal((await usd(page, '[data-figure="total"] .money'))!).equals(totals.cost_usd)).toBe(true);
      expect(await page.locator('[data-figure="events"]').textContent()).toBe(String(totals.events));
      expect(await page.locator('[data-figure="unpriced"]').textContent()).toBe(String(totals.unpriced_events));
      expect(await page.locator("#tenants tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-tenant")))).toEqual([T]);
      // The tenant's coverage panel loads too (its query takes the shared-cost kinds as a bound parameter).
      await page.locator("#overview-coverage dl.coverage").waitFor();
      // The live part refreshes itself (htmx polls the fragment).
      const before = await page.locator("#overview time").textContent();
      await page.waitForFunction((t) => document.querySelector("#overview time")?.textContent !== t, before, { timeout: 30_000 });
      const body = await page.content();
      for (const other of ["acme", "globex", "initech", "umbrella"]) expect(body).not.toContain(`data-tenant="${other}"`);
      expect(problems).toEqual([]);
      await context.close();
    });

    it("filters the explorer, charts it and exports the same rows as CSV", async () => {
      const context = await newContext();
      const page = await signIn(context, tenantKey);
      const problems = watch(page);
      await page.goto(`${stack.info.api_url}/explorer?range=24h&group_by=persona_id`);
      const groups = await page.locator("#explorer-table tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-group")));
      expect(groups.sort()).toEqual(["", "persona-a", HOSTILE_PERSONA].sort());
      await page.locator("#explorer-chart canvas").first().waitFor();
      // Filter through the form, as a user does: model gpt-4o only.
      await page.selectOption('select[name="filter_key"]', "model");
      await page.fill('input[name="filter_value"]', "gpt-4o");
      await page.selectOption('select[name="group_by"]', "user_id");
      await Promise.all([page.waitForURL(/filter_value=gpt-4o/), page.click('#explorer-form button[type="submit"]')]);
      const rows = await page.locator("#explorer-table tbody tr").evaluateAll((trs) => trs.map((r) => r.getAttribute("data-group")));
      expect(rows).toEqual(["u-2"]);
      const [expected] = await stack.sql<{ usd: string }>(
        `SELECT toString(sum(cost_usd)) AS usd FROM costline.ledger FINAL WHERE tenant = '${T}' AND model = 'gpt-4o'`,
      );
      expect(new Decimal((await usd(page, "#explorer-table tbody tr .money"))!).equals(expected!.usd)).toBe(true);
      const csvHref = await page.locator("a[download]").getAttribute("href");
      const csv = await (await page.request.get(`${stack.info.api_url}${csvHref}`)).text();
      const lines = csv.trim().split("\n");
      expect(lines[0]).toBe("bucket,user_id,events,unpriced_events,cost_usd,input_tokens,output_tokens");
      expect(
        lines
          .slice(1)
          .reduce((s, l) => s.plus(l.split(",")[4]!), new Decimal(0))
          .equals(expected!.usd),
      ).toBe(true);
      expect(problems).toEqual([]);
      await context.close();
    });

    it("opens a post whose total equals the sum of its audit trail", async () => {
      const context = await newContext();
      const page = await signIn(context, tenantKey);
      const problems = watch(page);
      await page.goto(`${stack.info.api_url}/posts`);
      await page.fill('input[name="id"]', "p-1");
      await Promise.all([page.waitForURL(/id=p-1/), page.click('main form button[type="submit"]')]);
      const total = new Decimal((await usd(page, "#post-total .money"))!);
      const audit = await page
        .locator("#audit tbody tr")
        .evaluateAll((rows) => rows.map((r) => r.querySelector(".money")?.getAttribute("data-usd") ?? null));
      const allocated = await page
        .locator("#allocation-audit tbody tr .money")
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-usd")!));
      expect(audit).toHaveLength(4); // c-1, c-2, the unpriced c-4 and the direct cost c-5
      expect(audit.filter((a) => a === null)).toHaveLength(1);
      const sum = [...audit.filter((a): a is string => a !== null), ...allocated].reduce((s, v) => s.plus(v), new Decimal(0));
      expect(sum.equals(total)).toBe(true);
      const api = await stack.api<{ total_usd: string }>(`/v1/posts/p-1/costs`, tenantKey);
      expect(total.equals(api.total_usd)).toBe(true);
      // The hostile model name is shown as text.
      expect(await page.locator("#audit").textContent()).toContain(HOSTILE_MODEL);
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(problems).toEqual([]);
      await context.close();
    });

    it("as an admin: silences an alert with one click and sets a budget", async () => {
      const context = await newContext();
      const page = await signIn(context, stack.adminKey);
      const problems = watch(page);
      // Switch to the test tenant (the select submits itself).
      await switchTenant(page, T);
      expect(await page.locator("#tenants tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-tenant")))).toEqual([T]);
      // The unknown (hostile) model raised an unpriced_model alert for the tenant.
      await waitFor(
        "the unpriced-model alert",
        async () => {
          const r = await stack.api<{ alerts: { type: string }[] }>(`/v1/alerts?type=unpriced_model`, tenantKey);
          return r.alerts.length ? r : undefined;
        },
        60_000,
      );
      await page.goto(`${stack.info.api_url}/alerts?state=firing`);
      const alert = page.locator("li.alert", { hasText: "unpriced_model" }).first();
      expect(await alert.textContent()).toContain(HOSTILE_MODEL);
      const fingerprint = (await alert.getAttribute("data-fingerprint"))!;
      await Promise.all([page.waitForURL(/\/alerts/), alert.locator('button[data-action="silence"]').click()]);
      await expect.poll(() => page.locator(`li.alert[data-fingerprint="${fingerprint}"] .silenced`).count()).toBe(1);
      expect(await page.locator(".notice").textContent()).toContain("Silenced");
      const silences = await admin<{ silences: { matchers: { name: string; value: string }[]; state: string }[] }>(
        "GET",
        `/v1/silences?tenant=${T}`,
      );
      expect(
        silences.silences.some((s) => s.state === "active" && s.matchers.some((m) => m.name === "fingerprint" && m.value === fingerprint)),
      ).toBe(true);

      await page.goto(`${stack.info.api_url}/budgets`);
      const form = page.locator("section form.grid-form");
      await form.locator('input[name="amount_usd"]').fill("5");
      await form.locator('select[name="period"]').selectOption("monthly");
      await Promise.all([page.waitForURL(/\/budgets/), form.locator('button[type="submit"]').click()]);
      expect(await page.locator(".notice").textContent()).toContain("saved");
      const budgets = await stack.api<{ budgets: { scope: { tenant: string }; amount_usd: string; period: string }[] }>(
        `/v1/budgets`,
        tenantKey,
      );
      expect(budgets.budgets).toEqual([expect.objectContaining({ scope: { tenant: T }, amount_usd: "5", period: "monthly" })]);
      await page.locator('li.budget [data-chart="burn"] canvas').first().waitFor();
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(problems).toEqual([]);
      await context.close();
    });

    it("pauses a persona from the controls page, and the demo's traffic for it stops while the rest goes on", async () => {
      const tenant = "acme";
      const persona = "chef_mario";
      const count = async (where: string) =>
        Number(
          (
            await stack.sql<{ n: string }>(
              `SELECT count() AS n FROM costline.ledger WHERE tenant = '${tenant}' AND kind = 'llm' AND ${where}`,
            )
          )[0]!.n,
        );
      await waitFor(
        "demo traffic for the persona",
        async () => ((await count(`persona_id = '${persona}'`)) > 3 ? true : undefined),
        90_000,
      );
      const context = await newContext();
      const page = await signIn(context, stack.adminKey);
      const problems = watch(page);
      await page.goto(`${stack.info.api_url}/controls`);
      const form = page.locator("#control-form");
      await form.locator('input[name="tenant"]').fill(tenant);
      await form.locator('select[name="dim"]').selectOption("persona_id");
      await form.locator('input[name="value"]').fill(persona);
      await form.locator('select[name="state"]').selectOption("open");
      await form.locator('input[name="reason"]').fill("console test pause");
      await Promise.all([page.waitForURL(/\/controls/), form.locator('button[type="submit"]').click()]);
      const row = page.locator(`#controls tbody tr[data-state="open"]`, { hasText: persona });
      expect(await row.count()).toBe(1);
      expect(await page.locator("#control-history").textContent()).toContain("console test pause");
      // The guard learns of the control through its KV watch within moments; events stamped after that must not exist.
      const cut = new Date(Date.now() + 3000).toISOString().replace("T", " ").replace("Z", "");
      await waitFor(
        "other personas' traffic after the pause (so the ledger has caught up past it)",
        async () => ((await count(`persona_id != '${persona}' AND time >= '${cut}'`)) >= 20 ? true : undefined),
        120_000,
      );
      expect(await count(`persona_id = '${persona}' AND time >= '${cut}'`)).toBe(0);
      // Cleared from the same page, the persona's calls come back.
      await Promise.all([page.waitForURL(/\/controls/), row.locator("button").click()]);
      const resumed = new Date(Date.now() + 3000).toISOString().replace("T", " ").replace("Z", "");
      await waitFor(
        "the persona's traffic after the clear",
        async () => ((await count(`persona_id = '${persona}' AND time >= '${resumed}'`)) > 0 ? true : undefined),
        120_000,
      );
      expect(problems).toEqual([]);
      await context.close();
    });

    it("renders every page without breaking at 1280×800 and 390×844, and writes their screenshots", async () => {
      const pages = [
        ["login", "/login"],
        ["overview", "/"],
        ["explorer", "/explorer?range=24h&group_by=model"],
        ["post", "/posts?id=p-1"],
        ["alerts", "/alerts"],
        ["budgets", "/budgets"],
        ["controls", "/controls"],
        ["pipeline", "/pipeline"],
      ] as const;
      const written: string[] = [];
      const check = async (page: Page, name: string, p: string, viewport: { width: number; height: number }) => {
        const problems = watch(page);
        const res = await page.goto(`${stack.info.api_url}${p}`);
        expect({ page: name, status: res?.status() }).toEqual({ page: name, status: 200 });
        // Rendered: the overview's lazy panels have replaced their placeholders and no htmx request is in flight
        // (charts are drawn from the swapped-in markup at once; waiting for the network to idle cost 0.5 s a page).
        await expect.poll(() => page.locator("#overview .loading, .htmx-request").count(), { timeout: 30_000 }).toBe(0);
        const size = `${viewport.width}x${viewport.height}`;
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect({ page: name, size, overflowPx: Math.max(0, overflow) }).toEqual({ page: name, size, overflowPx: 0 });
        const file = path.join(shots, `${name}-${size}.png`);
        await page.screenshot({ path: file, fullPage: true });
        written.push(file);
        expect({ page: name, problems }).toEqual({ page: name, problems: [] });
      };
      for (const viewport of viewports) {
        const context = await newContext(viewport);
        await check(await context.newPage(), "login", "/login", viewport);
        const page = await signIn(context, stack.adminKey);
        await switchTenant(page, T);
        for (const [name, p] of pages) if (name !== "login") await check(page, name, p, viewport);
        await context.close();
      }
      for (const f of written) expect(existsSync(f) && readFileSync(f).length > 1000).toBe(true);
    });
  },
);
