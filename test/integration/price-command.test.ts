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
      price_source: "genai-prices",
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
    expect(await price("--provider", "acme", "--model", "nope", "--input-tokens", "5")).toMatchObject({
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
});
