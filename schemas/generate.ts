// Writes schemas/json/*.schema.json from the zod schemas (npm run schemas).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { renderJsonSchemas } from "./json-schema.ts";

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "json");
mkdirSync(dir, { recursive: true });
for (const f of readdirSync(dir)) if (f.endsWith(".schema.json")) rmSync(path.join(dir, f));
for (const [file, text] of Object.entries(renderJsonSchemas())) writeFileSync(path.join(dir, file), text);
console.log(`wrote ${Object.keys(renderJsonSchemas()).length} JSON Schemas to ${path.relative(process.cwd(), dir)}`);
