// Renders every wire schema as JSON Schema (draft 2020-12), as producers in
// other languages consume it. `npm run schemas` writes them to schemas/json/.
import * as z from "zod";
import { wireSchemas } from "./index.ts";

export function renderJsonSchemas(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, schema] of Object.entries(wireSchemas)) {
    // "input": what a producer may send, with defaulted fields optional.
    const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
    out[`${name}.schema.json`] = `${JSON.stringify({ $id: `costline/${name}`, title: name, ...json }, null, 2)}\n`;
  }
  return out;
}
