// The committed JSON Schema must match the zod schemas: run `npm run schemas` after changing them.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { renderJsonSchemas } from "../../schemas/json-schema.ts";

const dir = path.resolve(import.meta.dirname, "../../schemas/json");

describe("generated JSON Schema", () => {
  const rendered = renderJsonSchemas();

  it("is committed for every wire schema, and nothing else", () => {
    expect(
      readdirSync(dir)
        .filter((f) => f.endsWith(".schema.json"))
        .sort(),
    ).toEqual(Object.keys(rendered).sort());
  });

  it.each(Object.keys(renderJsonSchemas()))("%s is current", (file) => {
    expect(readFileSync(path.join(dir, file), "utf8")).toBe(rendered[file]);
  });

  it("describes the event envelope a producer writes", () => {
    const schema = JSON.parse(rendered["llm-usage-event.schema.json"]!);
    expect(schema.required).toEqual(expect.arrayContaining(["specversion", "id", "source", "type", "data"]));
    expect(schema.properties.data.required).toEqual(expect.arrayContaining(["tenant", "provider", "model", "usage"]));
  });
});
