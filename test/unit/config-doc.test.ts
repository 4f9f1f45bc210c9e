// docs/configuration.md is generated from the zod configuration schema: it
// must match what the schema says now, and every variable must say what it does.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { envSchema } from "../../pipeline/config/config.ts";
import { docPath, renderConfigDoc, undocumented } from "../../scripts/config-doc.ts";

describe("docs/configuration.md", () => {
  it("is what `npm run docs:config` writes from the schema today", async () => {
    expect(readFileSync(docPath, "utf8")).toBe(await renderConfigDoc());
  });

  it("lists every variable with its default and range, and none without a description", async () => {
    const doc = await renderConfigDoc();
    for (const name of Object.keys(envSchema.shape)) expect(doc).toContain(`\`${name}\``);
    expect(doc).toMatch(/\| `COSTLINE_API_PORT` +\| `8080` +\| integer 0–65535 +\|/);
    expect(undocumented()).toEqual([]);
  });
});
