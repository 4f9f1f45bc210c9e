// `costline price` as a user runs it, with a configuration file.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { cliPath, repoRoot, tempHome } from "../helpers/stack-process.ts";

const run = promisify(execFile);
const home = tempHome("costline-price-");
const configFile = path.join(home, "costline.json");
writeFileSync(configFile, JSON.stringify({ pricing: { tenantDiscounts: [{ tenant: "acme", discount: "0.1" }] } }));

async function price(...args: string[]) {
  const { stdout } = await run(process.execPath, [cliPath, "price", ...args], {
    cwd: repoRoot,
    env: { ...process.env, COSTLINE_HOME: home, COSTLINE_CONFIG: configFile },
  });
  return JSON.parse(stdout);
}

describe("costline price", () => {
  it("prints the cost, the resolved model and the components", async () => {
    const out = await price(
      "--provider",
      "anthropic",
      "--model",
      "claude-sonnet-4-20250514",
      "--input-tokens",
      "4740",
      "--cache-write-tokens",
      "4735",
      "--output-tokens",
      "255",
    );
    expect(out).toMatchObject({
      cost_usd: "0.02159625",
      priced: true,
      provider: "anthropic",
      model: "claude-sonnet-4-0",
      // The shipped overlay adds Sonnet 4's above-200k tier, so its price object is the corrected one.
      price_source: "overlay",
    });
    expect(out.components.map((c: { unit: string }) => c.unit)).toEqual(["input_mtok", "cache_write_mtok", "output_mtok"]);
  });

  it("applies --batch, --tenant and --at", async () => {
    const out = await price(
      "--provider",
      "openai",
      "--model",
      "o3",
      "--input-tokens",
      "10000",
      "--output-tokens",
      "5000",
      "--batch",
      "--tenant",
      "acme",
      "--at",
      "2025-05-01T00:00:00Z",
    );
    expect(out.cost_usd).toBe("0.135"); // (10000×10 + 5000×40)/1e6 × 0.5 × 0.9
  });

  it("prints null for a model without a price, and rejects a bad time", async () => {
    expect(await price("--provider", "openai", "--model", "nope", "--input-tokens", "5")).toMatchObject({
      cost_usd: null,
      priced: false,
      reason: "unknown_model",
    });
    await expect(price("--provider", "openai", "--model", "gpt-4o", "--at", "yesterday")).rejects.toMatchObject({
      stderr: expect.stringMatching(/--at: "yesterday" is not an ISO time/),
    });
    await expect(price("--provider", "openai", "--model", "gpt-4o", "--input-tokens", "-3")).rejects.toMatchObject({
      stderr: expect.stringMatching(/whole number/),
    });
  });

  it("infers the provider from the model id, and refuses a provider nobody prices", async () => {
    // gpt-4o-mini: 1000×0.15 + 500×0.60 per 1M (platform.openai.com/docs/pricing)
    expect(await price("--model", "openai/gpt-4o-mini", "--input-tokens", "1000", "--output-tokens", "500")).toMatchObject({
      cost_usd: "0.00045",
      priced: true,
      provider: "openai",
      model: "gpt-4o-mini",
    });
    await expect(price("--provider", "nosuchprov", "--model", "gpt-4o", "--input-tokens", "1000")).rejects.toMatchObject({
      stderr: expect.stringMatching(/unknown provider "nosuchprov"/),
    });
  });

  it("prices DeepSeek at 17:00 UTC today without the night discount that ended on 2025-09-05", async () => {
    // api-docs.deepseek.com: $0.28 input, $0.42 output per 1M since 2025-09-29; the library still halves it at night
    const out = await price(
      "--model",
      "deepseek-chat",
      "--input-tokens",
      "1000000",
      "--output-tokens",
      "1000000",
      "--at",
      "2026-12-01T17:00Z",
    );
    expect(out).toMatchObject({ cost_usd: "0.7", provider: "deepseek", price_source: "overlay" });
  });
});
