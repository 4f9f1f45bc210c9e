#!/usr/bin/env node
// Entry point of `npx costline`: runs the bundled CLI in dist/cli/. In a checkout
// with the TypeScript sources it first rebuilds dist/ if a source is newer
// (a modification-time check; tsc runs only when something changed).
import { ensureBuilt } from "../scripts/build.mjs";

ensureBuilt();
const { main } = await import("../dist/cli/main.js");
await main(process.argv);
