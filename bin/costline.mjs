#!/usr/bin/env node
// Entry point of `npx costline`: runs the TypeScript CLI through tsx.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../pipeline/cli/main.ts");
await main(process.argv);
